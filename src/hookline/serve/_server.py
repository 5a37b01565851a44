"""The listeners: uvicorn with httptools (and uvloop where it installs), two servers in
one event loop: the public one (webhooks) and the admin one (health, metrics).

uvicorn's own limits, with the values hookline sets (docs/serve.md#limits):
- ``timeout_keep_alive`` 5 s: an idle keep-alive connection is closed.
- ``backlog`` 2048: connections the kernel queues before they are accepted.
- ``timeout_graceful_shutdown`` = ``--grace``: open requests get this long at SIGTERM.

uvicorn's ``limit_concurrency`` is not used: it counts idle connections, so idle clients
could refuse every other one. ``GuardedProtocol`` (``_protocol``) sets the limits on
headers, pipelining, connections per client and requests in progress; the connection
limit follows the file-descriptor limit (``connection_limit``).
A body that stalls is the app's to time out (``_app.BODY_TIMEOUT``).
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

from .._errors import UsageError
from ._protocol import HEADER_TIMEOUT, MAX_PER_CLIENT, MAX_REQUESTS, GuardedProtocol, Limits

KEEP_ALIVE = 5
BACKLOG = 2048
RESERVED_FDS = 256
"""File descriptors kept for everything but client connections (database, upstream
connections, logs): the connection limit is the process's descriptor limit minus these."""
MAX_FD_LIMIT = 65536
"""The descriptor limit the service raises its soft limit to (at most the hard limit)."""


def connection_limit() -> int:
    """Connections a listener accepts at once: the file-descriptor limit (its soft limit
    raised towards the hard one, up to MAX_FD_LIMIT) minus RESERVED_FDS, at least 64."""
    try:
        import resource
    except ImportError:  # not on POSIX: no descriptor limit to read
        return 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_FD_LIMIT if hard == resource.RLIM_INFINITY else min(hard, MAX_FD_LIMIT)
    if soft != resource.RLIM_INFINITY and soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    if soft == resource.RLIM_INFINITY:
        soft = MAX_FD_LIMIT
    return max(64, soft - RESERVED_FDS)


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
    per_client: int = MAX_PER_CLIENT,
    max_requests: int = MAX_REQUESTS,
    max_connections: int | None = None,
) -> uvicorn.Server:
    """A uvicorn server for ``app`` on an already bound socket. Refusals for load are
    counted in ``app.metrics`` (reason ``busy``) when the app has metrics."""
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
        limit_concurrency=None,  # GuardedProtocol's limits instead (module docstring)
        backlog=BACKLOG,
        timeout_graceful_shutdown=max(1, round(grace)),
        proxy_headers=False,  # the client address is not used; no X-Forwarded-* rewriting
    )
    metrics = getattr(app, "metrics", None)
    refused = getattr(metrics, "refused", None)
    counters: dict[str, Any] = {}

    def count(reason: str) -> None:
        if refused is not None:
            if reason not in counters:
                counters[reason] = refused.labels(reason)
            counters[reason].inc()

    config.hookline_limits = Limits(  # type: ignore[attr-defined]
        connections=connection_limit() if max_connections is None else max_connections,
        per_client=per_client,
        requests=max_requests,
        header_timeout=header_timeout,
        refused=count,
    )
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
