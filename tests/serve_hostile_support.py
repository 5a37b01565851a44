"""The public listener in-process for the hostile-client tests: the real app, intake and
uvicorn server on 127.0.0.1 with limits a test can shrink, and raw-socket helpers."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookline._load import load_pipeline
from hookline._log import RunLog
from hookline.serve._app import WebhookApp
from hookline.serve._intake_sqlite import SqliteIntake
from hookline.serve._metrics import Metrics
from hookline.serve._server import bind, make_server, new_loop
from hookline.serve._webhook_route import build_route

TOKEN = "a-token-1234"
PIPELINE = """version: 1
name: hostile
trigger:
  webhook:
    path: /hooks/x
    token: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Token}
    delivery_header: X-Delivery
secrets: [HOOK_SECRET]
steps:
  - id: a
    set: 1
"""


@dataclass
class Listener:
    port: int
    app: WebhookApp
    log: io.StringIO
    loop: Any

    def refused(self, reason: str) -> float:
        return float(self.app.metrics.refused.labels(reason)._value.get())


@contextmanager
def listener(
    tmp_path: Path,
    *,
    pipeline: str = PIPELINE,
    secret: str = TOKEN,
    body_timeout: float = 3.0,
    max_buffered: int | None = None,
    max_queue: int = 10_000,
    **limits: Any,
) -> Iterator[Listener]:
    """``make_server`` keywords (``header_timeout``, ``per_client`` ...) go in ``limits``."""
    (tmp_path / "p.yaml").write_text(pipeline, encoding="utf-8")
    loaded = load_pipeline(tmp_path / "p.yaml")
    intake = SqliteIntake(tmp_path / "hookline.db", max_queue=max_queue)
    log = io.StringIO()
    app = WebhookApp(intake, Metrics(), RunLog(log), body_timeout=body_timeout)
    if max_buffered is not None:
        app.max_buffered = max_buffered
    route = build_route(loaded, {"HOOK_SECRET": secret})
    # A second pipeline, the same but at /hooks/y: for what one pipeline does to another.
    (tmp_path / "q.yaml").write_text(
        pipeline.replace("name: hostile", "name: other").replace("/hooks/x", "/hooks/y"),
        encoding="utf-8",
    )
    other = build_route(load_pipeline(tmp_path / "q.yaml"), {"HOOK_SECRET": secret})
    app.routes = {route.path: {route.method: route}, other.path: {other.method: other}}
    sock = bind("127.0.0.1", 0)
    server = make_server(app, sock, grace=1, **limits)
    loop = new_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield Listener(int(sock.getsockname()[1]), app, log, loop)
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        intake.close()
        sock.close()


def request(
    path: str = "/hooks/x",
    body: bytes = b"{}",
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    close: bool = False,
) -> bytes:
    """A raw HTTP/1.1 request (keep-alive unless ``close``)."""
    sent = {"Host": "a", "Content-Type": "application/json"}
    if token is not None:
        sent["X-Token"] = token
    sent.update(headers or {})
    sent.setdefault("Content-Length", str(len(body)))
    if close:
        sent["Connection"] = "close"
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
    return head.encode("latin-1") + b"\r\n" + body


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset ends it too); the socket's timeout
    bounds the wait."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def body(reply: bytes) -> bytes:
    return reply.partition(b"\r\n\r\n")[2]


def header(reply: bytes, name: str) -> str | None:
    head = reply.partition(b"\r\n\r\n")[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
