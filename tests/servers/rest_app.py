"""A real HTTP server for the REST connector's tests: standard library only, 127.0.0.1.

``RestServer().start()`` serves on a free port in a background thread; ``.url`` is its
base address, ``.requests`` records every request, ``.reset()`` forgets all state and puts
every setting back to its default, ``.stop()`` closes every connection and joins every
thread. The routes live in ``rest_routes`` (general) and ``rest_data`` (pagination,
Airtable); this module holds the server, the request record and the shared state.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Defaults of the settable attributes; reset() puts them back.
DEFAULTS: dict[str, Any] = {
    "bearer_token": "hlb_7Qm2Xv9LpR4tK8sW3nZcE5",
    "basic_user": "svc-hookline",
    "basic_password": "pW9tq2Lx7vRz4mKd8sQe",
    "api_key": "hlk_3f9a1c7e5b2d8046af1e9c",
    "client_id": "hookline-client-8f3a2c91",
    "client_secret": "cs_Yt6uR2wQ9pL4mN8vB1xZ7k",
    "token_lifetime": 3600,
    "airtable_token": "patX9k2LmQ7wR4tY.8f1e3c5a7b9d2e4f6a8c0b1d3e5f7a9c",
    "airtable_rate": 5,
    "airtable_window": 1.0,
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    time: float  # time.monotonic() when the request was read
    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # as sent (original case); use header() for lookups
    body: bytes
    json: Any  # the body parsed as JSON, or None
    connection: int = 0  # 1-based number of the TCP connection it came on

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json", headers or [])


class RestServer:
    """The test server. Settings (see DEFAULTS) are plain attributes, counters too."""

    bearer_token: str
    basic_user: str
    basic_password: str
    api_key: str
    client_id: str
    client_secret: str
    token_lifetime: float
    airtable_token: str
    airtable_rate: int
    airtable_window: float

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.attempts: dict[str, int] = {}  # /flaky/<key> -> requests seen
        self.tables: dict[str, list[dict[str, Any]]] = {}  # Airtable table -> records
        self.tokens: dict[str, tuple[int, float]] = {}  # OAuth token -> (number, expires_at)
        self.tokens_issued = 0
        self.airtable_calls: dict[str, list[float]] = {}  # base -> accepted request times
        self.rate_limited = 0  # 429 answers sent by the Airtable routes
        self.records_created = 0
        self.errors: list[str] = []  # route exceptions (answered 500)
        self.connections = 0  # TCP connections accepted since the last reset
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._set_defaults()

    def _set_defaults(self) -> None:
        for name, value in DEFAULTS.items():
            setattr(self, name, value)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> RestServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self.stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"rest-app:{self._httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self.stopping.set()  # wakes /slow sleepers
        httpd.shutdown()  # the accept loop ends
        thread.join()
        httpd.close_connections()  # idle keep-alive readers see EOF
        httpd.server_close()  # closes the listening socket
        self._httpd = self._thread = None
        httpd.join_handlers()

    def __enter__(self) -> RestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, counters, tokens, tables; restore every setting's default."""
        with self.lock:
            self._set_defaults()
            self.requests.clear()
            self.attempts.clear()
            self.tables.clear()
            self.tokens.clear()
            self.airtable_calls.clear()
            self.errors.clear()
            self.tokens_issued = 0
            self.rate_limited = 0
            self.records_created = 0
            self.connections = 0

    def revoke_tokens(self) -> None:
        """Invalidate every OAuth token issued so far (the next call gets a 401)."""
        with self.lock:
            self.tokens.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests for one path (and method), oldest first."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method.upper())
            ]

    def record(self, req: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(req)

    def next_connection(self) -> int:
        with self.lock:
            self.connections += 1
            return self.connections


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrency: 1 s stalls

    def __init__(self, app: RestServer) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        # socketserver does not keep daemon handler threads (so server_close() would not
        # join them): keep them here, registered before they start.
        self._handlers: list[threading.Thread] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"rest-app-conn:{client_address[1]}",
            daemon=True,
        )
        with self._open_lock:
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def join_handlers(self, timeout: float = 10.0) -> None:
        with self._open_lock:
            handlers = list(self._handlers)
        deadline = time.monotonic() + timeout
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in handlers if t.is_alive()]
        if stuck:
            raise RuntimeError(f"rest_app: handler threads still running after stop: {stuck}")

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup: skip it.
        TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away; nothing to print


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.app.next_connection()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def handle_request(self) -> None:
        from .rest_routes import route  # here, not at the top: it imports this module

        app = self.server.app
        parts = urlsplit(self.path)
        body = self._read_body()
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        req = RecordedRequest(
            time=time.monotonic(),
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
            json=parsed,
            connection=self.connection_number,
        )
        app.record(req)
        try:
            resp = route(app, req)
        except Exception as exc:  # a bug in a route: answer 500, keep serving
            with app.lock:
                app.errors.append(f"{req.method} {req.path}: {exc!r}")
            resp = json_response(500, {"error": f"server error: {exc!r}"})
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        no_body = resp.status == 204 or resp.status == 304 or self.command == "HEAD"
        self.send_header("Content-Type", resp.content_type)
        if resp.status != 204:
            length = len(resp.body) if resp.status != 304 else 0
            self.send_header("Content-Length", str(length))
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if not no_body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_request
