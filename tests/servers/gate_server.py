"""A tiny HTTP server on 127.0.0.1 whose answers the test releases by hand.

``GET /gate/<name>`` waits until the test calls ``open(name)``, then answers
``{"gate": name}``; any other path answers at once: ``answers[path]`` (a JSON value, or
a function of method and path returning one, or a ``(status, JSON)`` pair), else the
method and path. Every request is counted by method and path (``hits``), so a test can
prove a request was, or was not, sent again; ``bodies`` holds each request's JSON body.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class GateServer:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.bodies: list[Any] = []
        self._gates: dict[str, threading.Event] = {}
        self._arrived: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.answers: dict[str, Any] = {}  # path -> JSON answered (default: the request)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                with server._lock:
                    server.hits[f"{self.command} {path}"] += 1
                    server.bodies.append(json.loads(body) if body else None)
                if path.startswith("/gate/"):
                    name = path.removeprefix("/gate/")
                    server._event(server._arrived, name).set()
                    server._event(server._gates, name).wait(30)
                    answer: Any = {"gate": name}
                else:
                    answer = server.answers.get(path, {"method": self.command, "path": self.path})
                    if callable(answer):
                        answer = answer(self.command, self.path)
                status = 200
                if isinstance(answer, tuple):  # (status, JSON)
                    status, answer = answer
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client was killed while it waited (a crash test)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = _serve

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def _event(self, table: dict[str, threading.Event], name: str) -> threading.Event:
        with self._lock:
            return table.setdefault(name, threading.Event())

    def start(self) -> GateServer:
        self._thread.start()
        return self

    def arrived(self, name: str, timeout: float = 10) -> bool:
        """Wait until a request reached gate ``name``."""
        return self._event(self._arrived, name).wait(timeout)

    def open(self, name: str) -> None:
        self._event(self._gates, name).set()

    def stop(self) -> None:
        for event in list(self._gates.values()):
            event.set()
        self._http.shutdown()
        self._http.server_close()
