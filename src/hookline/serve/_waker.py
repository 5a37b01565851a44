"""Futures of the intake's writer thread, awaited on the event loop with one wake-up per
batch instead of one per delivery.

``asyncio.wrap_future`` wakes the event loop once for each future the writer resolves
(a write to the loop's self-pipe, a system call each); a group commit of 200 deliveries
made 200 of them. Here the writer's callbacks only queue the result, and the first one of
a batch wakes the loop, which then resolves every awaiting request at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, TypeVar

T = TypeVar("T")


class Waker:
    def __init__(self) -> None:
        self._ready: list[tuple[concurrent.futures.Future[Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wait(self, future: concurrent.futures.Future[T]) -> asyncio.Future[T]:
        """An asyncio future (of the running loop) with ``future``'s outcome."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = self._loop.create_future()
        future.add_done_callback(lambda done: self._done(done, waiter))
        return waiter

    def _done(self, done: concurrent.futures.Future[Any], waiter: asyncio.Future[Any]) -> None:
        with self._lock:
            self._ready.append((done, waiter))
            if self._scheduled:
                return
            self._scheduled = True
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
            self._scheduled = False
        for done, waiter in ready:
            if waiter.done():  # the request went away (cancelled)
                continue
            exc = done.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(done.result())
