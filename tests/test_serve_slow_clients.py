"""Slow and stalled clients cannot hold the public listener: a request whose headers never
end is cut off, a body that stalls is answered 408. The listener runs in-process (short
deadlines, raw sockets), with the real intake on a database in the test's directory."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline._load import load_pipeline
from hookline._log import RunLog
from hookline.serve._app import WebhookApp
from hookline.serve._intake_sqlite import SqliteIntake
from hookline.serve._metrics import Metrics
from hookline.serve._server import bind, make_server, new_loop
from hookline.serve._webhook_route import build_route

PIPELINE = """version: 1
name: slow-clients
trigger:
  webhook:
    path: /hooks/x
    token: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Token}
secrets: [HOOK_SECRET]
steps:
  - id: a
    set: 1
"""


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "p.yaml")
    intake = SqliteIntake(tmp_path / "hookline.db")
    app = WebhookApp(intake, Metrics(), RunLog(io.StringIO()), body_timeout=0.5)
    route = build_route(pipeline, {"HOOK_SECRET": "a-token-1234"})
    app.routes = {route.path: {route.method: route}}
    sock = bind("127.0.0.1", 0)
    server = make_server(app, sock, grace=1, header_timeout=0.5)
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
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        intake.close()
        sock.close()


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)  # the test's socket timeout bounds the wait
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_headers_that_never_end_are_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: a\r\nX-Tok")
        assert _read_all(sock) == b""  # closed without an answer, well before 5 s


def test_a_connection_that_sends_nothing_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert _read_all(sock) == b""


def test_a_stalled_body_is_answered_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /hooks/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b'X-Token: a-token-1234\r\nContent-Length: 100\r\n\r\n{"a": '
        )
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert reply.endswith(b'{"error": "the body did not arrive within 0.5s"}')


def test_a_request_on_time_is_served_and_the_connection_kept(port: int) -> None:
    request = (
        b"POST /hooks/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"X-Token: a-token-1234\r\nContent-Length: 2\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(2):  # keep-alive: the second request on the same connection
            sock.sendall(request)
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 202 ")


def test_headers_over_64_kib_are_answered_431(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: a\r\n")
        for _ in range(9):  # 72 KB of headers that never end, in pieces
            sock.sendall(b"X-Pad: " + b"p" * 8000 + b"\r\n")
            time.sleep(0.02)
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert reply.endswith(b'{"error": "the request headers are larger than 64 KiB"}')


def test_a_large_body_is_not_taken_for_large_headers(port: int) -> None:
    body = b'{"a": "' + b"b" * 500_000 + b'"}'
    head = (
        b"POST /hooks/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"X-Token: a-token-1234\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 202 ")
