"""The Redis backend of ``hookline._coord``: the shared rate limit and the run slots.

A command given a coordination Redis (``--redis``, ``HOOKLINE_REDIS_URL``, or a Redis
broker's URL) calls ``install_redis(url)`` once at start, before any run; from then on
``connectors/_http.py`` and ``_locks.py`` in this process use the Redis versions::

    from hookline.scale._coordinate import install_redis
    coordination = install_redis(config.redis, log=log)   # a worker, serve, run-pipeline
    ...
    uninstall()                                            # tests, or at exit

The rate-limit windows are shared by identity (pipeline, connection, origin), so one
limiter object per identity is kept here: runs of one process share it, and every
process shares its window in Redis.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import redis

from .. import _coord
from ._ratelimit import RedisRateLimiter, window_key
from ._redis import connect, where
from ._slots import Lease, Slots, lease_seconds

__all__ = ["RedisCoordination", "install_redis", "uninstall"]


class _Log(Protocol):
    def warning(self, message: str, event: str = ..., **fields: Any) -> None: ...


class RedisCoordination:
    """``hookline._coord.Shared`` over one Redis client."""

    def __init__(
        self, client: redis.Redis, *, lease_ttl: float | None = None, log: _Log | None = None
    ) -> None:
        self.client = client
        self.where = f"Redis at {where(client)}"
        self.log = log
        self.slots = Slots(
            client, ttl=lease_ttl if lease_ttl is not None else lease_seconds(), warn=self._warn
        )
        self._limiters: dict[tuple[str, str, str, float, float], RedisRateLimiter] = {}
        self._lock = threading.Lock()

    def _warn(self, message: str) -> None:
        if self.log is not None:
            self.log.warning(message, event="lease")

    def rate_limiter(
        self, pipeline: str, connection: str, origin: str, count: float, per_seconds: float
    ) -> RedisRateLimiter:
        ident = (pipeline, connection, origin, count, per_seconds)
        with self._lock:
            limiter = self._limiters.get(ident)
            if limiter is None:
                name = window_key(pipeline, connection, origin)
                limiter = RedisRateLimiter(self.client, name, count, per_seconds)
                self._limiters[ident] = limiter
            return limiter

    def acquire_slot(self, pipeline: str, slots: int) -> Lease | None:
        return self.slots.acquire(pipeline, slots)

    def holders(self, pipeline: str, slots: int) -> list[str]:
        return self.slots.holders(pipeline, slots)


def install_redis(
    url: str, *, lease_ttl: float | None = None, log: _Log | None = None
) -> RedisCoordination:
    """Coordinate this process through the Redis at ``url`` (see the module docstring)."""
    coordination = RedisCoordination(connect(url), lease_ttl=lease_ttl, log=log)
    _coord.install(coordination)
    return coordination


def uninstall() -> None:
    """Back to this machine's coordination (flock files, per-run rate limits); the
    installed Redis client is closed."""
    installed = _coord.shared()
    _coord.install(None)
    if isinstance(installed, RedisCoordination):
        installed.slots.close()
        installed.client.close()
