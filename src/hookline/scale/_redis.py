"""The coordination Redis: one client per process, with timeouts, and its errors worded.

Every coordination call (a leader renewal, a rate-limit slot, a pipeline slot) is one
short Lua script or command, so short timeouts are right: a Redis that does not answer
within ``SOCKET_TIMEOUT`` is treated as down, and each caller says what that means for
it (a leader steps down, a step fails, a run is not started). Nothing here retries on
its own: the callers' loops already run again a moment later.

    connect(url) -> redis.Redis
    CoordinationUnavailable(OSError)   Redis could not be reached or refused a command;
                                       the message names the URL with its password masked
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import redis.exceptions

from ._config import masked

__all__ = [
    "CONNECT_TIMEOUT",
    "SOCKET_TIMEOUT",
    "CoordinationUnavailable",
    "connect",
    "guarded",
    "holder_id",
    "key",
    "redis_time",
    "script",
    "where",
]

#: Seconds to open a connection to Redis.
CONNECT_TIMEOUT = 5.0
#: Seconds a command waits for Redis's answer.
SOCKET_TIMEOUT = 5.0
#: Prefix of every key hookline writes, so a shared Redis stays readable.
PREFIX = "hookline:"

T = TypeVar("T")


class CoordinationUnavailable(OSError):
    """Redis could not be reached, or refused a command. An OSError, as a lock file that
    cannot be opened is one: callers already word that for the user."""


def connect(url: str) -> redis.Redis:
    """A client of the Redis at ``url`` (a pool inside; thread-safe). Connects lazily:
    the first command raises ``CoordinationUnavailable`` when Redis is not there."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        decode_responses=False,
    )
    # Kept for messages only, masked; the client itself never prints its URL.
    client.hookline_where = masked(url)  # type: ignore[attr-defined]
    return client


def where(client: redis.Redis) -> str:
    """The masked URL of ``client``, for messages."""
    return str(getattr(client, "hookline_where", "Redis"))


def guarded(client: redis.Redis, what: str, call: Callable[[], T]) -> T:
    """``call()``, its Redis errors raised as ``CoordinationUnavailable`` with a plain
    message: "cannot take the run lock: Redis at redis://...: Connection refused"."""
    try:
        return call()
    except redis.exceptions.RedisError as exc:
        reason = str(exc).strip() or type(exc).__name__
        # redis-py puts host:port in its connection messages, never the password; long
        # messages are cut anyway: one line for the log.
        raise CoordinationUnavailable(f"{what}: Redis at {where(client)}: {reason[:200]}") from exc


def script(client: redis.Redis, source: str) -> Any:
    """A Lua script registered on ``client`` (EVALSHA, loaded again when Redis lost it)."""
    return client.register_script(source)


def redis_time(client: redis.Redis) -> float:
    """Redis's clock, in epoch seconds: the one clock every machine shares."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


def holder_id() -> str:
    """Who holds a lease: ``host:pid:random``, unique per holder, readable in Redis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def key(*parts: str) -> str:
    """A key under hookline's prefix. Parts are names users chose (a pipeline): they go
    in as they are; Redis keys are binary-safe."""
    return PREFIX + ":".join(parts)
