"""Where processes coordinate: on this machine (the default) or, in distributed mode,
through a shared service (Redis) that ``hookline.scale`` installs at start.

Two things are coordinated, and core code asks this module for them instead of
importing a backend:

- a connection's ``rate_limit`` (``connectors/_http.py``): on one machine each run
  keeps its own rolling window (``connectors/_ratelimit.RateLimiter``); shared, every
  run on every machine counts in one window per pipeline, connection and origin;
- a pipeline's run slots (``_locks.py``): on one machine ``flock`` files in the home;
  shared, leases that expire when their holder dies.

``shared()`` is None unless a command configured a coordination URL and installed its
backend (``hookline.scale._coordinate.install_redis``): ``run-pipeline`` without
``--redis`` and the embedded ``serve`` behave exactly as before, and nothing here imports
a third-party package.

A backend raises ``OSError`` (``CoordinationUnavailable`` in ``hookline.scale``) when it
cannot be reached; callers word it for the user.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Protocol

__all__ = ["Limiter", "Shared", "SlotLease", "install", "shared"]


class Limiter(Protocol):
    """A rate limit's contract (``connectors/_ratelimit.RateLimiter`` is the local one)."""

    def acquire(self, deadline: float | None = None) -> Any | None:
        """Block until a request may leave; its slot, or None when it could not leave
        before ``deadline`` (a ``time.monotonic()`` instant)."""
        ...

    def sent(self, slot: Any) -> None:
        """The request of ``slot`` is leaving now: its window starts now."""
        ...


class SlotLease(Protocol):
    """One run slot of a pipeline, held until ``release()`` (``_locks.Held`` locally)."""

    pipeline: str
    slot: int

    @property
    def held(self) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> SlotLease: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Shared(Protocol):
    """A coordination backend every process of a deployment shares."""

    #: Where it is, for messages: "Redis at redis://host:6379/0" (no password).
    where: str

    def rate_limiter(
        self, pipeline: str, connection: str, origin: str, count: float, per_seconds: float
    ) -> Limiter:
        """The limit ``count`` per ``per_seconds`` shared by every run of ``pipeline``'s
        ``connection`` to ``origin``, on every machine."""
        ...

    def acquire_slot(self, pipeline: str, slots: int) -> SlotLease | None:
        """A free slot of ``pipeline`` at once, or None when its ``slots`` are all held.
        Raises OSError when the backend cannot be reached."""
        ...

    def holders(self, pipeline: str, slots: int) -> list[str]:
        """Notes on who holds ``pipeline``'s slots ("pid 42 on host-a since ...")."""
        ...


_lock = threading.Lock()
_shared: Shared | None = None


def install(backend: Shared | None) -> None:
    """Make ``backend`` this process's coordination (None: back to this machine only)."""
    global _shared
    with _lock:
        _shared = backend


def shared() -> Shared | None:
    """The installed shared backend, or None: coordinate on this machine."""
    return _shared
