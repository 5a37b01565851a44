"""Per-pipeline run slots as Redis leases: the ``_locks.py`` rule across machines.

A pipeline has ``concurrency`` slots (default 1); a run holds one for its whole length,
whether ``run-pipeline --redis`` under cron on any machine or a worker of the distributed
mode. On one machine a slot is a ``flock`` that dies with its process; across machines a
slot is a lease that *expires* when its holder stops renewing it:

- ``hookline:slots:<pipeline>`` is a sorted set: member = the slot's number, score = the
  instant (Redis's clock) its lease ends. ``...:holders`` is a hash: slot number ->
  the holder's token and a note ("pid 4242 on host-a since 2026-03-01T06:00:00Z").
- Taking, renewing and giving back a slot are Lua scripts (atomic): take drops the
  expired leases and takes the lowest free slot; give back acts only when the holder's
  token is still the one recorded, so a holder whose lease expired and was taken by
  another never frees the other's, and renew never extends another's.
- One thread per process renews every lease it holds every ``ttl/3`` (no thread per
  run: taking and giving back a slot is two short scripts). A holder that dies (SIGKILL, a lost
  machine) frees its slot within ``ttl``.
- A renewal that finds its lease gone from Redis (Redis restarted without its data, a
  failover to a replica that had not caught up, or a lease that lapsed while Redis was
  out of reach) takes its slot again when it is free, or another free slot of the
  pipeline: from then on the cap holds again. Only when every slot is another run's is
  the lease lost: the holder is told (``Lease.lost``, a warning in its log that names
  the cause) while its run goes on, as it cannot be stopped safely from here. Between
  Redis losing its data and the next renewal (at most ``ttl/3``) another run can take
  the slot: nothing can tell it that a run held it.
- The ttl is ``HOOKLINE_LEASE_SECONDS`` (default 60 s), the worker's lease too.

``acquire`` never waits, as ``_locks.acquire``: None when every slot is held.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import redis

from .._locks import lock_stem
from ._redis import CoordinationUnavailable, guarded, holder_id, key, script

__all__ = ["DEFAULT_LEASE_SECONDS", "LEASE_ENV", "Lease", "Slots", "lease_seconds"]

#: Seconds a slot's lease lasts without renewal (renewed every third of it).
DEFAULT_LEASE_SECONDS = 60.0
LEASE_ENV = "HOOKLINE_LEASE_SECONDS"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
local function keep(zset, hash)
  local last = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
  if last[2] then
    local at = math.ceil(tonumber(last[2]) * 1000) + 1000
    redis.call('PEXPIREAT', zset, at)
    redis.call('PEXPIREAT', hash, at)
  end
end
"""
# KEYS: zset, hash; ARGV: slots, ttl, token, note. The slot taken, or -1.
_ACQUIRE = (
    _NOW
    + """
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))) do
  redis.call('HDEL', KEYS[2], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
for i = 0, tonumber(ARGV[1]) - 1 do
  local m = tostring(i)
  if not redis.call('ZSCORE', KEYS[1], m) then
    redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[2])), m)
    redis.call('HSET', KEYS[2], m, ARGV[3] .. '\\n' .. ARGV[4])
    keep(KEYS[1], KEYS[2])
    return i
  end
end
return -1
"""
)
# KEYS: zset, hash; ARGV: slot, token, ttl, slots, note. {slot, how}: how 0 = our lease,
# extended; 1 = our lease was gone from Redis and the run holds a free slot again (the
# same one when it is free); slot -1 = gone, and every slot is another run's.
_RENEW = (
    _NOW
    + """
local function ours(m)
  local holder = redis.call('HGET', KEYS[2], m)
  return holder and string.sub(holder, 1, #ARGV[2] + 1) == ARGV[2] .. '\\n'
end
local function take(m)
  redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[3])), m)
  redis.call('HSET', KEYS[2], m, ARGV[2] .. '\\n' .. ARGV[5])
  keep(KEYS[1], KEYS[2])
end
if ours(ARGV[1]) then
  -- Ours, even past its end: nobody took it since (a take drops a lapsed holder first).
  take(ARGV[1])
  return {tonumber(ARGV[1]), 0}
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now))) do
  redis.call('HDEL', KEYS[2], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  take(ARGV[1])
  return {tonumber(ARGV[1]), 1}
end
for i = 0, tonumber(ARGV[4]) - 1 do
  local m = tostring(i)
  if not redis.call('ZSCORE', KEYS[1], m) then
    take(m)
    return {i, 1}
  end
end
return {-1, 1}
"""
)
# KEYS: zset, hash; ARGV: slot, token.
_RELEASE = """
local holder = redis.call('HGET', KEYS[2], ARGV[1])
if holder and string.sub(holder, 1, #ARGV[2] + 1) == ARGV[2] .. '\\n' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
# KEYS: zset, hash. The notes of the live leases.
_HOLDERS = (
    _NOW
    + """
local notes = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now), '+inf')) do
  local holder = redis.call('HGET', KEYS[2], m)
  if holder then
    local cut = string.find(holder, '\\n', 1, true)
    table.insert(notes, cut and string.sub(holder, cut + 1) or '')
  end
end
return notes
"""
)


def lease_seconds(environ: dict[str, str] | None = None) -> float:
    """The lease ttl from ``HOOKLINE_LEASE_SECONDS``, else the default (60 s). A value
    that is not a positive number is ignored."""
    text = (environ if environ is not None else os.environ).get(LEASE_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_LEASE_SECONDS
    return value if 0 < value < 86_400 else DEFAULT_LEASE_SECONDS


class Lease:
    """One slot of a pipeline held in Redis, renewed until ``release()`` (the
    ``_locks.Held`` shape: ``pipeline``, ``slot``, ``held``, ``release()``, ``with``)."""

    def __init__(
        self,
        slots: Slots,
        pipeline: str,
        slot: int,
        token: str,
        *,
        count: int = 1,
        note: str = "",
        since: float | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.slot = slot
        self.token = token
        self.lost = False  # another run holds the slot now, and no other slot was free
        self._count = count  # the pipeline's slots, where a lost lease may find another
        self._note = note
        self._slots = slots
        self._keys = slots.keys(pipeline)
        self._done = threading.Event()
        # When the lease was last set (before Redis's answer: the lease runs from later).
        self._renewed = time.monotonic() if since is None else since

    @property
    def held(self) -> bool:
        return not self._done.is_set() and not self.lost

    def renew(self) -> None:
        """Extend the lease by the ttl (the renewing thread calls it every ttl/3).

        A lease Redis no longer has (Redis restarted without its data, a failover to a
        replica that had not caught up, or a lease that lapsed while Redis was out of
        reach) is taken again when its slot, or another of the pipeline's, is free: the
        cap holds again from then on. Only when every slot is another run's is the lease
        lost; the run goes on (it cannot be stopped safely from here) and the log says so.
        """
        if self._done.is_set() or self.lost:
            return
        ttl = self._slots.ttl
        sent = time.monotonic()
        try:
            answer = guarded(
                self._slots.client,
                "cannot renew a run slot",
                lambda: self._slots.renew_script(
                    keys=self._keys,
                    args=[self.slot, self.token, f"{ttl:.3f}", max(1, self._count), self._note],
                ),
            )
        except CoordinationUnavailable as exc:
            self._slots.warn(f"{exc}; trying again")
            return  # the lease lasts ttl: two more tries before it can lapse
        slot, how = int(answer[0]), int(answer[1])
        # Our lease gone before it could have lapsed: Redis lost it, not an outage.
        wiped = sent - self._renewed < ttl
        if slot >= 0:
            self._renewed = sent
            if how:
                was, self.slot = self.slot, slot
                moved = "" if slot == was else f" (slot {slot} now, slot {was} before)"
                self._slots.warn(
                    f"pipeline '{self.pipeline}': {self._gone(wiped)}; the slot was free and "
                    f"this run holds it again{moved}"
                )
            return
        if self._done.is_set():
            return
        self.lost = True
        taken = (
            "another run took the slot meanwhile: the two runs go on at once"
            if self._count == 1
            else "other runs took every slot meanwhile: this run goes on beyond the "
            f"pipeline's concurrency ({self._count})"
        )
        self._slots.warn(f"pipeline '{self.pipeline}': {self._gone(wiped)}, and {taken}")

    def _gone(self, wiped: bool) -> str:
        if wiped:
            return (
                "Redis lost this run's slot lease (it restarted without its data, or "
                "failed over to a replica that had not caught up)"
            )
        return (
            "this run's slot lease lapsed (Redis out of reach, or this process paused, "
            "for longer than the lease)"
        )

    def release(self) -> None:
        """Give the slot back. Safe to call twice; Redis out of reach: it expires."""
        if self._done.is_set():
            return
        self._done.set()
        self._slots.forget(self)
        if self.lost:
            return
        with contextlib.suppress(CoordinationUnavailable):
            guarded(
                self._slots.client,
                "cannot give a run slot back",
                lambda: self._slots.release_script(keys=self._keys, args=[self.slot, self.token]),
            )

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Slots:
    """The run slots of every pipeline, as Redis leases (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl: float = DEFAULT_LEASE_SECONDS,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._warn = warn
        self.acquire_script = script(client, _ACQUIRE)
        self.renew_script = script(client, _RENEW)
        self.release_script = script(client, _RELEASE)
        self.holders_script = script(client, _HOLDERS)
        self._held: set[Lease] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._renewer: threading.Thread | None = None

    def _renew_loop(self) -> None:
        while not self._closed.wait(self.ttl / 3):
            with self._lock:
                held = list(self._held)
            for lease in held:
                lease.renew()

    def forget(self, lease: Lease) -> None:
        with self._lock:
            self._held.discard(lease)

    def close(self) -> None:
        """Stop renewing (the leases held then expire within the ttl)."""
        self._closed.set()
        if self._renewer is not None:
            self._renewer.join(5)

    def keys(self, pipeline: str) -> list[str]:
        stem = lock_stem(pipeline)
        return [key("slots", stem), key("slots", stem, "holders")]

    def warn(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)

    def acquire(self, pipeline: str, slots: int) -> Lease | None:
        """A free slot of ``pipeline`` at once, or None when all ``slots`` are held.
        Raises ``CoordinationUnavailable`` when Redis cannot be asked."""
        token = holder_id()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        note = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}"
        sent = time.monotonic()
        taken = guarded(
            self.client,
            "cannot take a run slot",
            lambda: self.acquire_script(
                keys=self.keys(pipeline), args=[max(1, slots), f"{self.ttl:.3f}", token, note]
            ),
        )
        if int(taken) < 0:
            return None
        lease = Lease(self, pipeline, int(taken), token, count=max(1, slots), note=note, since=sent)
        with self._lock:
            self._held.add(lease)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name="hookline-slot-leases", daemon=True
                )
                self._renewer.start()
        return lease

    def holders(self, pipeline: str, slots: int = 1) -> list[str]:
        """Notes on the live holders of ``pipeline``'s slots; empty when Redis is out of
        reach (the notes are a courtesy in a message)."""
        try:
            notes = guarded(
                self.client,
                "cannot read the run slots",
                lambda: self.holders_script(keys=self.keys(pipeline)),
            )
        except CoordinationUnavailable:
            return []
        return [n.decode("utf-8", "replace")[:100] for n in notes if n]
