"""``GuardedProtocol``: uvicorn's httptools protocol with the limits a public listener needs.

uvicorn alone lets one client hurt every other one:
- request headers that never end are never timed out (a slowloris client), and httptools
  takes headers of any size: a deadline (``HEADER_TIMEOUT``) and a size limit
  (``MAX_HEADER_BYTES``, answered 431);
- a client that pipelines requests and never reads the answers: uvicorn resumes reading
  after each answer although parsed requests still wait, so the queue of waiting requests
  grows without bound. Reading stays paused while requests wait or the answers are not
  being read (the write buffer is over its high-water mark), and a connection with more
  than ``MAX_PIPELINED`` requests waiting is closed;
- its concurrency limit counts idle connections, so ~1,000 connections that send nothing
  refuse everyone else. Here only requests in progress count (``Limits.requests``); idle
  connections are bounded per client address (``Limits.per_client``) and in all
  (``Limits.connections``, from the file-descriptor limit). Each refusal is a JSON 503
  with Retry-After, counted in ``hookline_deliveries_refused_total{reason="busy"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
"""Seconds a connection has to finish sending a request's headers."""
MAX_HEADER_BYTES = 64 * 1024
"""The largest request line and headers accepted (httptools sets no limit of its own)."""
MAX_PIPELINED = 32
"""Requests one connection may have waiting behind the one in progress (pipelining)."""
MAX_PER_CLIENT = 64
"""Connections open at once from one client address."""
MAX_REQUESTS = 1000
"""Requests in progress at once (headers received, answer not yet sent)."""
RETRY_AFTER = 1
"""Seconds a busy refusal asks the client to wait (Retry-After)."""


def _answer(status: bytes, message: str, extra: bytes = b"") -> bytes:
    body = json.dumps({"error": message}).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n" + extra
        + b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
        + body
    )  # fmt: skip


_TOO_LARGE_ANSWER = _answer(
    b"431 Request Header Fields Too Large", "the request headers are larger than 64 KiB"
)
_BUSY_MESSAGE = "the service is busy: try again later"
_BUSY_HEADERS = [
    (b"content-type", b"application/json"),
    (b"retry-after", str(RETRY_AFTER).encode()),
    (b"connection", b"close"),
]
_BUSY_BODY = json.dumps({"error": _BUSY_MESSAGE}).encode()
_BUSY_ANSWER = _answer(
    b"503 Service Unavailable", _BUSY_MESSAGE, b"retry-after: %d\r\n" % RETRY_AFTER
)
_HTTP2_ANSWER = _answer(b"505 HTTP Version Not Supported", "this service speaks HTTP/1.1 only")


@dataclass
class Limits:
    """One listener's connection limits and its count of connections by client address."""

    connections: int
    per_client: int = MAX_PER_CLIENT
    requests: int = MAX_REQUESTS
    header_timeout: float = HEADER_TIMEOUT
    refused: Callable[[str], None] = lambda reason: None  # counts a refusal in the metrics
    clients: dict[str, int] = field(default_factory=dict)


class _Overflow(Exception):
    """More pipelined requests wait than ``MAX_PIPELINED``: stop parsing this connection."""


class GuardedProtocol(HttpToolsProtocol):
    """httptools' protocol, plus the limits in this module's docstring."""

    _guard: asyncio.TimerHandle | None = None  # set while a request's headers are awaited
    _head_bytes = 0
    _in_head = False  # between a request's first byte and the end of its headers
    _client_key: str | None = None  # set once this connection is counted for its client
    _heads_done = 0  # requests whose headers ended on this connection

    @property
    def _limits(self) -> Limits:
        limits: Limits = self.config.hookline_limits  # type: ignore[attr-defined]
        return limits

    # -- header deadline ------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._guard = self.loop.call_later(self._limits.header_timeout, self._stalled)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _stalled(self) -> None:
        self._guard = None
        if not self.transport.is_closing():
            self.transport.close()

    # -- connections ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self._limits
        host = self.client[0] if self.client else ""
        if limits.clients.get(host, 0) >= limits.per_client or (
            len(self.connections) > limits.connections
        ):
            # Refused before a byte is read: the answer waits in the socket for the client.
            limits.refused("busy")
            transport.write(_BUSY_ANSWER)
            transport.close()
            return
        limits.clients[host] = limits.clients.get(host, 0) + 1
        self._client_key = host
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        host = self._client_key
        if host is not None:
            self._client_key = None
            clients = self._limits.clients
            left = clients.get(host, 1) - 1
            if left > 0:
                clients[host] = left
            else:
                clients.pop(host, None)
        super().connection_lost(exc)

    # -- reading ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, with the pipelining cap and the header size limit.
        self._unset_keepalive_if_required()
        was_in_head, heads_done, before = self._in_head, self._heads_done, self._head_bytes
        no_body = self.cycle is None or not self.cycle.more_body  # no body being read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._refuse_upgrade()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Overflow):
                self.transport.abort()  # answers nobody reads: drop them with the connection
                return
            if data.startswith(b"PRI * HTTP/2"):
                self._refuse_upgrade()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and was_in_head and heads_done == self._heads_done:
            # All of this data is the same unfinished headers (with a partial line the
            # parser holds, which on_header has not counted yet).
            self._head_bytes = before + len(data)
        elif self._in_head and no_body and heads_done == self._heads_done:
            self._head_bytes = len(data)  # headers began at the start of this data
        if self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._disarm()
            self.transport.write(_TOO_LARGE_ANSWER)
            self.transport.close()

    def _refuse_upgrade(self) -> None:
        # uvicorn would advise installing a websocket library; this service has no use for
        # an upgrade (nor HTTP/2): one plain line and a closed connection.
        self.logger.warning("a client asked for HTTP/2 or an upgrade: answered 505")
        if not self.transport.is_closing():
            self.transport.write(_HTTP2_ANSWER)
            self.transport.close()

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()

    # Headers that begin in a read are counted as the parser hands them over; a read wholly
    # inside unfinished headers is counted whole (data_received).
    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        self._head_bytes = 0
        self._heads_done += 1
        if len(self.pipeline) >= MAX_PIPELINED:
            raise _Overflow
        limits = self._limits
        if len(self.tasks) >= limits.requests:
            limits.refused("busy")
            app, self.app = self.app, _busy
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # resumes reading, starts the next pipelined request
        if self.transport.is_closing():
            return
        if self.pipeline or self.flow.write_paused:
            # Requests still wait, or the client is not reading its answers: read no more
            # until it does (the request now in progress resumes reading for its body).
            self.flow.pause_reading()
        if self.cycle is None or (self.cycle.response_complete and not self.pipeline):
            self._arm()  # nothing in progress: the next request's headers get the deadline

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self.pipeline and (self.cycle is None or self.cycle.response_complete):
            self.flow.resume_reading()


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer past ``Limits.requests``: JSON, with Retry-After, and the connection ends."""
    headers = [*_BUSY_HEADERS, (b"content-length", str(len(_BUSY_BODY)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _BUSY_BODY})
