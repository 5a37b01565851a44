"""A connection's ``rate_limit`` shared by every worker, as one rolling window in Redis.

The rule is the one of ``connectors/_ratelimit.RateLimiter`` (read its docstring): at
most N requests in any window of the period, widened by the same ``MARGIN``; a slot is
taken before a request is prepared and stamped again when it leaves. Here the window is
a sorted set in Redis (member: one slot, score: its send time), keyed by the pipeline,
the connection's name and its origin, so every run of that connection on every machine
counts in it:

- ``acquire`` is one Lua script (atomic: two workers never both take the last slot): it
  drops the sends older than the window, takes a slot when fewer than N remain, and
  otherwise answers how long until the oldest leaves the window; the client sleeps that
  long and asks again.
- The clock is Redis's (``TIME`` inside the script), so the machines' clocks never
  matter, only their distance to Redis, which the margin absorbs.
- ``sent`` stamps the slot again (``ZADD GT``: only later); it is best effort: if Redis
  does not answer then, the slot keeps its first stamp, a little earlier than the send.
- The key expires one second after the window: an idle connection leaves nothing behind.

Redis unreachable while taking a slot: ``CoordinationUnavailable``, which the step
reports as a failure (a limit that cannot be counted is not silently ignored).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable

import redis

from ..connectors._ratelimit import _EPSILON, MARGIN
from ._redis import CoordinationUnavailable, guarded, key, script

__all__ = ["RedisRateLimiter", "window_key"]

# KEYS[1]: the window; ARGV: limit, window (s), member. Scores are written with
# string.format: Lua's own number-to-text keeps 14 digits, 100 us of an epoch time.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - window + 1e-6))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, string.format('%.6f', window - (now - tonumber(oldest[2])))}
"""
# KEYS[1]: the window; ARGV: window (s), member.
_SENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], 'GT', string.format('%.6f', now), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
return 1
"""


def window_key(pipeline: str, connection: str, origin: str) -> str:
    """The window's key: a digest of the identity (names may hold anything), with the
    connection's name readable for whoever looks into Redis."""
    ident = "\0".join((pipeline, connection, origin)).encode("utf-8", "surrogatepass")
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in connection)[:40]
    return key("rate", f"{readable}-{hashlib.sha256(ident).hexdigest()[:16]}")


class RedisRateLimiter:
    """``count`` requests per ``per_seconds`` in the Redis window ``name`` (see above)."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        count: float,
        per_seconds: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if count == int(count):
            self.limit, self.period = int(count), per_seconds
        else:  # as the local limiter: 0.5/s is one request every 2 s
            self.limit, self.period = 1, per_seconds / count
        self.window = self.period * (1 + MARGIN)
        self.client = client
        self.key = name
        self._sleep = sleep
        self._acquire = script(client, _ACQUIRE)
        self._sent = script(client, _SENT)

    def acquire(self, deadline: float | None = None) -> str | None:
        """Block until a request may leave; its slot (pass it to ``sent``), or None when
        it could not leave before ``deadline`` (a ``time.monotonic()`` instant).
        Raises ``CoordinationUnavailable`` when Redis cannot be asked."""
        window = f"{self.window:.6f}"
        while True:
            member = uuid.uuid4().hex
            took, wait = guarded(
                self.client,
                "cannot count the shared rate limit",
                lambda: self._acquire(keys=[self.key], args=[self.limit, window, member]),  # noqa: B023
            )
            if int(took):
                return member
            delay = max(float(wait), _EPSILON)
            if deadline is not None and time.monotonic() + delay > deadline:
                return None
            self._sleep(delay)

    def sent(self, slot: str) -> None:
        """The request of ``slot`` is leaving now (best effort: see the module docstring)."""
        with contextlib.suppress(CoordinationUnavailable):
            guarded(
                self.client,
                "cannot stamp the shared rate limit",
                lambda: self._sent(keys=[self.key], args=[f"{self.window:.6f}", slot]),
            )
