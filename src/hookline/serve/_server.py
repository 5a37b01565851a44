"""The listeners: uvicorn with httptools (and uvloop where it installs), two servers in
one event loop: the public one (webhooks) and the admin one (health, metrics).

uvicorn's own limits, with the values hookline sets (docs/serve.md#limits):
- ``timeout_keep_alive`` 5 s: an idle keep-alive connection is closed.
- ``limit_concurrency`` 1000: past this many connections or requests at once, new
  requests get uvicorn's 503 at once instead of piling up.
- ``backlog`` 2048: connections the kernel queues before they are accepted.
- ``timeout_graceful_shutdown`` = ``--grace``: open requests get this long at SIGTERM.

uvicorn does not time out a request whose headers never finish (a slowloris client), and
httptools takes headers of any size: ``GuardedProtocol`` closes a connection whose request
headers are not complete within ``HEADER_TIMEOUT``, and answers 431 to headers over
``MAX_HEADER_BYTES``. A body that stalls is the app's to time out (``_app.BODY_TIMEOUT``).
Signals are the service's (``_service``), not uvicorn's: its handlers are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .._errors import UsageError

HEADER_TIMEOUT = 10.0
"""Seconds a connection has to finish sending a request's headers."""
MAX_HEADER_BYTES = 64 * 1024
"""The largest request line and headers accepted (httptools sets no limit of its own)."""
_TOO_LARGE = b'{"error": "the request headers are larger than 64 KiB"}'
_TOO_LARGE_ANSWER = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"content-length: "
    + str(len(_TOO_LARGE)).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + _TOO_LARGE
)
KEEP_ALIVE = 5
LIMIT_CONCURRENCY = 1000
BACKLOG = 2048


class GuardedProtocol(HttpToolsProtocol):
    """httptools' protocol, plus a deadline and a size limit on each request's headers."""

    _guard: asyncio.TimerHandle | None = None  # set while a request's headers are awaited
    _head_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self._head_bytes = 0
        seconds = getattr(self.config, "hookline_header_timeout", HEADER_TIMEOUT)
        self._guard = self.loop.call_later(seconds, self._stalled)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _stalled(self) -> None:
        self._guard = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        waiting = self._guard is not None
        super().data_received(data)
        if waiting and self._guard is not None:  # this data did not end the headers
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._disarm()
                self.transport.write(_TOO_LARGE_ANSWER)
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the service handles SIGTERM, SIGINT and SIGHUP itself


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def make_server(
    app: Any,
    sock: socket.socket,
    *,
    grace: float,
    loop: str = "auto",
    header_timeout: float = HEADER_TIMEOUT,
) -> uvicorn.Server:
    """A uvicorn server for ``app`` on an already bound socket."""
    config = uvicorn.Config(
        app,
        http=GuardedProtocol,
        loop="none" if loop == "auto" else loop,
        lifespan="off",
        ws="none",
        interface="asgi3",
        log_config=None,
        access_log=False,  # the app writes its own access lines (never bodies or signatures)
        server_header=False,
        date_header=True,
        timeout_keep_alive=KEEP_ALIVE,
        limit_concurrency=LIMIT_CONCURRENCY,
        backlog=BACKLOG,
        timeout_graceful_shutdown=max(1, round(grace)),
        proxy_headers=False,  # the client address is not used; no X-Forwarded-* rewriting
    )
    config.hookline_header_timeout = header_timeout  # type: ignore[attr-defined]
    # uvicorn logs "Started server process" and errors through "uvicorn.error": keep the
    # errors, drop the chatter (the service says what it serves, once).
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    return _Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now: a port in use is a clear error before anything
    starts, and port 0 (tests) gets its real number from ``getsockname()``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
