"""One leader among the ``serve`` instances: a lease in Redis with a fencing token.

The dispatcher, the scheduler and the poller of ``hookline serve`` act only while their
instance is the leader, so a schedule fires once and a poll lists once however many
instances run. How:

- The lease is the key ``hookline:leader:<name>``, taken with ``SET NX PX ttl`` holding a
  random token (``host:pid:random``), and renewed every ``ttl/3`` by a Lua
  compare-and-renew (only the holder of the token extends it).
- Each new term takes a fencing token from ``terms()``: in serve, a PostgreSQL sequence
  (``_pg_schedule.next_term``), taken once the lease is won. Writes that must not come
  from a stale leader carry it (the poll baselines and the schedule marks in PostgreSQL
  refuse a write whose term is older than the last one written). The sequence only
  grows, even when Redis loses its data (a restart without persistence, a failover),
  where a counter kept in Redis would start again at 1, below the stored terms, and have
  every write of the new leader refused. Without ``terms`` (tests of the lease alone) the
  token is ``INCR hookline:leader:<name>:term``, in the same script as the ``SET``.
- No term (the database does not answer within ``TERM_TIMEOUT``, 2 s): the lease is
  given back at once and this instance lets one ttl pass before it bids again, so an
  instance that can reach the database leads; the log says so once, not at every bid.
- Losing a renewal (the token is not ours any more, the lease vanished from Redis, or
  Redis did not answer) is stepping down at once. So is a write refused as stale
  (``resign``): the instance then bids again, and a new term is greater than any stored.
  ``is_leader()`` is also false once the lease could have expired since the last
  successful renewal, even if the renewing thread is held up.
- A follower tries to take the lease every ``min(ttl/3, 1 s)``: a dead leader is replaced
  within about ``ttl`` (its key expires at most ``ttl`` after its last renewal).
- ``stop()`` gives the lease back (compare-and-delete), so a restart hands over at once.

Use (Q's serve wiring)::

    leader = Leader(client, "serve", log=log, terms=lambda: next_term(pool))
    leader.start()
    ... if leader.is_leader(): publish / fire / poll (with leader.term as the fence)
    leader.stop()

Anything with an ``is_leader() -> bool`` method and a ``term`` attribute serves as the
gate of ``serve/_scheduler.Scheduler`` and ``serve/_poller.Poller``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from ._redis import CoordinationUnavailable, guarded, holder_id, key, script

__all__ = ["DEFAULT_TTL", "Leader"]

#: Seconds a leader's lease lasts without renewal (a dead leader is replaced within it).
DEFAULT_TTL = 10.0
#: A follower's longest wait between two attempts to take the lease.
FOLLOWER_POLL = 1.0
#: Of the ttl, kept as a margin for clock rates and the trip to Redis: a leader whose
#: last renewal is older than ttl * (1 - DRIFT) no longer believes it leads.
DRIFT = 0.1

# A new term: the lease when free, and (ARGV[3] = 'count') a fencing token from a Redis
# counter; else 1, the caller takes its term elsewhere. Already ours (a renewal whose
# answer was lost): extend it (and keep the counted term).
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[3] ~= 'count' then return 1 end
  return redis.call('INCR', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[3] ~= 'count' then return 1 end
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return 0
"""
# 1 renewed; 0 another holds the lease; -1 nobody does (Redis lost it, or it lapsed).
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder then return -1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class _Log(Protocol):
    def info(self, message: str, event: str = ..., **fields: Any) -> None: ...
    def warning(self, message: str, event: str = ..., **fields: Any) -> None: ...


class Leader:
    """This process's bid for the lease ``name`` (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        ttl: float = DEFAULT_TTL,
        log: _Log | None = None,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        terms: Callable[[], int] | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a leader's ttl must be positive")
        self.client = client
        self.name = name
        self.ttl = ttl
        self.token = holder_id()
        self.log = log
        self._listeners: list[Callable[[bool], None]] = [on_change] if on_change else []
        self._clock = clock
        self._terms = terms
        self._term_trouble: str | None = None  # why no term could be taken, once said
        self._quiet_until = 0.0  # no bid before this instant (no term could be taken)
        self._key = key("leader", name)
        self._term_key = key("leader", name, "term")
        self._acquire = script(client, _ACQUIRE)
        self._renew = script(client, _RENEW)
        self._release = script(client, _RELEASE)
        self._lock = threading.Lock()
        self._term: int | None = None
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the gated threads ask ---------------------------------------------------

    def is_leader(self) -> bool:
        """True while this process holds the lease (and it cannot have expired)."""
        with self._lock:
            return self._term is not None and self._clock() < self._valid_until

    @property
    def term(self) -> int | None:
        """The fencing token of this process's current term; None when not the leader."""
        with self._lock:
            if self._term is not None and self._clock() < self._valid_until:
                return self._term
            return None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"hookline-leader-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop bidding and give the lease back (the next instance takes it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._step_down(None):
            self._give_back()

    def watch(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(True)`` when this process becomes the leader and
        ``listener(False)`` when it steps down (from the renewing thread: be quick)."""
        self._listeners.append(listener)

    def _tell(self, leading: bool) -> None:
        for listener in list(self._listeners):
            listener(leading)

    def wait_leader(self, timeout: float) -> bool:
        """Wait until this process leads, for at most ``timeout`` seconds (tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.is_leader():
                return True
            time.sleep(0.02)
        return self.is_leader()

    # --- inside -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            pause = self.ttl / 3 if self.is_leader() else min(self.ttl / 3, FOLLOWER_POLL)
            self._stop.wait(pause)

    def step(self) -> None:
        """One attempt: renew the lease when leading, else try to take it."""
        ttl_ms = str(max(1, int(self.ttl * 1000)))
        sent = self._clock()
        leading = self._term is not None
        if not leading and sent < self._quiet_until:
            return
        try:
            if leading:
                renewed = guarded(
                    self.client,
                    "cannot renew the leader lease",
                    lambda: self._renew(keys=[self._key], args=[self.token, ttl_ms]),
                )
                if int(renewed) < 0:
                    self._step_down(
                        "the leader lease is gone from Redis (Redis lost its data: a "
                        "restart without persistence, or a failover) or it lapsed before "
                        "this renewal; bidding again"
                    )
                    return
                if not renewed:
                    self._step_down("another instance holds the leader lease now")
                    return
                with self._lock:
                    self._valid_until = sent + self.ttl * (1 - DRIFT)
                return
            term = int(
                guarded(
                    self.client,
                    "cannot bid for the leader lease",
                    lambda: self._acquire(
                        keys=[self._key, self._term_key],
                        args=[self.token, ttl_ms, "" if self._terms else "count"],
                    ),
                )
            )
        except CoordinationUnavailable as exc:
            if leading:
                self._step_down(str(exc))
            return
        if term > 0 and self._terms is not None:
            term = self._take_term()
        if term > 0:
            with self._lock:
                self._term = term
                self._valid_until = sent + self.ttl * (1 - DRIFT)
            if self.log is not None:
                self.log.info(
                    f"this instance leads now ({self.name}, term {term}): it runs the "
                    "schedules, the polls and the dispatcher",
                    event="leader_elected",
                    term=term,
                )
            self._tell(True)

    def _take_term(self) -> int:
        """A new term from ``terms()`` for the lease just won; 0 when none could be
        taken (the lease is then given back: an instance that can take one leads)."""
        assert self._terms is not None
        try:
            term = int(self._terms())
        except Exception as exc:  # the leader's thread must outlive a database outage
            lines = str(exc).strip().splitlines()
            reason = (lines[0] if lines else type(exc).__name__)[:200]
            self._give_back()
            self._quiet_until = self._clock() + self.ttl  # others bid first meanwhile
            if self._term_trouble is None and self.log is not None:
                self.log.warning(
                    f"this instance cannot lead ({self.name}): cannot take a leader term "
                    f"from the database: {reason}; it bids again in {self.ttl:g} s (this is "
                    "said once while it lasts)",
                    event="leader_term",
                )
            self._term_trouble = reason
            return 0
        self._term_trouble = None
        return term

    def _give_back(self) -> None:
        """Give the lease back if it is still ours (Redis gone: it expires anyway)."""
        with contextlib.suppress(CoordinationUnavailable):
            guarded(
                self.client,
                "cannot give the leader lease back",
                lambda: self._release(keys=[self._key], args=[self.token]),
            )

    def resign(self, term: int, why: str) -> None:
        """Step down from ``term`` (a write of it was refused as stale: a newer term
        exists) and give the lease back; the next bid, maybe this instance's, takes a
        new term. A term this instance no longer holds is left alone."""
        if self._step_down(f"{why}; bidding again", only=term):
            self._give_back()

    def _step_down(self, why: str | None, *, only: int | None = None) -> bool:
        with self._lock:
            if only is not None and self._term != only:
                return False
            was, self._term, self._valid_until = self._term, None, 0.0
        if was is None:
            return False
        if why is not None and self.log is not None:
            self.log.warning(
                f"this instance no longer leads ({self.name}, term {was}): {why}",
                event="leader_lost",
                term=was,
            )
        self._tell(False)
        return True
