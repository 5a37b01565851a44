"""Deadlines that interrupt blocked reads: a watchdog thread, and connection classes that
hand their sockets to it.

requests' ``timeout`` bounds each socket read, not an exchange: a server that sends one
byte a second, or trickles its headers, holds a caller for as long as it likes. Each
exchange has a ``Guard`` (its deadline and its sockets); one watchdog thread for the whole
process shuts down the sockets of a guard whose deadline passed, so that a read blocked
in the standard library returns at once. The sockets are reached through connection
classes registered on the adapter (``GuardedAdapter``), which hand each socket to the
guard of the exchange running on their thread (``guarding``).
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Guard:
    """The deadline of one exchange and the sockets it uses."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._done = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def adopt(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if not self.fired:
                return
        _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the whole process: fires guards whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: Guard) -> None:
        with self._cond:
            earliest = not self._heap or guard.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (guard.deadline, next(self._seq), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hookline-deadlines")
                self._thread.daemon = True
                self._thread.start()
            if earliest:  # waking the thread for a later deadline would only cost the GIL
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, guard = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            guard.fire()


_WATCHDOG = _Watchdog()
_current = threading.local()


def _adopt(sock: socket.socket | None) -> None:
    guard: Guard | None = getattr(_current, "guard", None)
    if guard is not None:
        guard.adopt(sock)


class _Guarded:
    """Hands each socket to the exchange running on this thread, and closes a response
    that urllib3 refused after http.client made it (a Content-Length of '1, 2'): left to
    the garbage collector, its socket would stay open until then."""

    sock: socket.socket | None
    response_class: Any

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _adopt(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _adopt(self.sock)  # a pooled connection made for an earlier exchange
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        made: list[http.client.HTTPResponse] = []
        make = self.response_class

        def tracked(*args: Any, **kwargs: Any) -> http.client.HTTPResponse:
            made.append(make(*args, **kwargs))
            return made[-1]

        self.response_class = tracked
        try:
            return super().getresponse()  # type: ignore[misc]
        except BaseException:
            for response in made:
                response.close()
            raise
        finally:
            self.response_class = make


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connections hand their sockets to the exchange's guard."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS  # type: ignore[assignment]

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


@contextlib.contextmanager
def guarding(limit: float) -> Iterator[Guard]:
    """A guard with a deadline ``limit`` seconds from now, for what runs on this thread."""
    guard = Guard(time.monotonic() + limit)
    _WATCHDOG.watch(guard)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = None
        guard.finish()
