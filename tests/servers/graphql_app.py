"""A real GraphQL server for the tests: a WSGI app (graphql-core's ``graphql_sync`` over the
schema in ``graphql_shop``) behind a standard-library HTTP/1.1 server on 127.0.0.1.

``GraphqlServer().start()`` serves on a free port in a background thread; ``.url`` is the
endpoint, ``.requests`` records every request (headers and parsed JSON body), ``.reset()``
restores the data and every setting, ``.stop()`` joins the threads. Settings:

- ``token``: when set, a request without ``Authorization: Bearer <token>`` gets a 401 with
  an ``errors`` list (code UNAUTHENTICATED);
- ``fail_next``: so many requests answered 503 before the next one is served;
- ``answer``: ``"graphql"`` (the default), ``"html"`` (200 text/html), ``"bad-json"``
  (200 application/json that is not JSON), ``"not-graphql"`` (200 JSON without data or
  errors), or ``"drop"`` (the connection closes after the request is read);
- ``delay``: seconds to wait before answering each request;
- ``raw``: when set, (status line, content type, body bytes) answered to every request.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

from graphql import graphql_sync

from .graphql_shop import ShopData, shop_schema

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_SCHEMA = shop_schema()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any


class GraphqlServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self.shop = ShopData()
        self.token: str | None = None
        self.fail_next = 0
        self.answer = "graphql"
        self.delay = 0.0
        self.raw: tuple[str, str, bytes] | None = None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/graphql"

    def start(self) -> GraphqlServer:
        self._httpd = _Server(self.wsgi)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._httpd.server_close()
            self._httpd = self._thread = None

    def __enter__(self) -> GraphqlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.shop = ShopData()
            self.token = None
            self.fail_next = 0
            self.answer = "graphql"
            self.delay = 0.0
            self.raw = None

    def operations(self) -> list[str]:
        """The operationName (or the query's first line) of every request, in order."""
        with self.lock:
            seen = list(self.requests)
        out = []
        for r in seen:
            body = r.json if isinstance(r.json, dict) else {}
            out.append(body.get("operationName") or str(body.get("query", "")).split("\n")[0])
        return out

    # -- the WSGI app ----------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        with self.lock:
            self.requests.append(
                Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body)
            )
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
            shop, token, answer, delay = self.shop, self.token, self.answer, self.delay
            raw_answer = self.raw
        if delay:
            time.sleep(delay)

        def send(status: str, data: Any, content_type: str = "application/json") -> list[bytes]:
            out = data if isinstance(data, bytes) else json.dumps(data).encode()
            start_response(
                status, [("Content-Type", content_type), ("Content-Length", str(len(out)))]
            )
            return [out]

        if raw_answer is not None:
            return send(raw_answer[0], raw_answer[2], raw_answer[1])
        if environ["PATH_INFO"] != "/graphql":
            return send("404 Not Found", {"errors": [{"message": "not found"}]})
        if answer == "drop":
            raise _Drop
        if failing:
            return send("503 Service Unavailable", {"errors": [{"message": "try again"}]})
        if token is not None and headers.get("authorization") != f"Bearer {token}":
            err = {"message": "unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}
            return send("401 Unauthorized", {"errors": [err]})
        if answer == "html":
            return send("200 OK", b"<html><body>Maintenance</body></html>", "text/html")
        if answer == "bad-json":
            return send("200 OK", b'{"data": {"shop": ', "application/json")
        if answer == "not-graphql":
            return send("200 OK", {"ok": True})
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return send("400 Bad Request", {"errors": [{"message": "expected a JSON query"}]})
        result = graphql_sync(
            _SCHEMA,
            body["query"],
            root_value=shop.root(),
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
        return send("200 OK", result.formatted)


class _Drop(Exception):
    """Close the connection without answering."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # no reverse DNS lookup
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Headers and body go out in separate writes: without this, delayed ACKs add
        # 40 ms to every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    """Runs the WSGI app for each request on a keep-alive HTTP/1.1 connection (wsgiref's
    server speaks HTTP/1.0 only: a connection per request would skew the benchmarks)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        environ = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": self.path.split("?")[0],
            "CONTENT_LENGTH": self.headers.get("Content-Length", ""),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.input": self.rfile,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"):
                environ[key] = value
        status_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            status_headers[:] = [status, headers]

        try:
            chunks = list(self.server.app(environ, start_response))
        except _Drop:
            self.close_connection = True
            return
        status, headers = status_headers
        self.send_response(int(status.split()[0]), status.split(" ", 1)[1])
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)

    do_GET = do_POST = _serve
