"""Hostile cases that need the whole ``hookline serve`` (workers, signals): sync-reply
templates fed characters a header or a status cannot carry, and SIGTERM while clients
hold stalled bodies."""

from __future__ import annotations

import http.client
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_support import SIGNED, Serve, github_signature, hook

ECHO = hook(
    "echo",
    "/hooks/echo",
    trigger_extra=SIGNED
    + '    reply: sync\n    status: "${{ input.status }}"\n'
    + '    headers:\n      X-Echo: "${{ input.h }}"\n',
)

HEADER_REFUSED = (
    "the reply's header X-Echo is over 8192 characters, or holds a line break, a control "
    "character or a character outside Latin-1"
)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("hostile-serve")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "echo.yaml").write_text(ECHO, encoding="utf-8")
    with Serve(root / "pipelines", root / "home") as service:
        yield service


@pytest.mark.parametrize("text", ["a\x01b", "a\x0bb", "a\x7fb", "a\x1fb", "euro €", "😀"])
def test_a_reply_header_it_cannot_send_is_a_500_naming_it(serve: Serve, text: str) -> None:
    # Control characters made uvicorn drop the answer (the client got nothing); characters
    # past Latin-1 went out as '?'.
    answer = serve.post("/hooks/echo", {"status": "201", "h": text})
    assert answer.status == 500
    assert answer.json()["error"] == HEADER_REFUSED
    assert "x-echo" not in answer.headers


def test_a_latin1_reply_header_is_sent_as_is(serve: Serve) -> None:
    answer = serve.post("/hooks/echo", {"status": "201", "h": "café\tau lait"})
    assert answer.status == 201
    assert answer.headers["x-echo"] == "café\tau lait"


@pytest.mark.parametrize("code", ["²⁰¹", "२०१", "\uff12\uff10\uff11"])
def test_a_status_of_non_ascii_digits_is_a_500(serve: Serve, code: str) -> None:
    # '२०१'.isdigit() and int('२०१') == 201: it was answered 201.
    answer = serve.post("/hooks/echo", {"status": code, "h": "x"})
    assert answer.status == 500
    assert answer.json()["error"].startswith("the reply's status template gave ")
    assert answer.json()["error"].endswith(", not 200-599")


def test_sigterm_with_stalled_bodies_answers_them_and_logs_no_traceback(
    tmp_path: Path,
) -> None:
    # The stalled reads were cancelled after --grace: one CancelledError traceback each.
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "echo.yaml").write_text(ECHO, encoding="utf-8")
    service = Serve(tmp_path / "pipelines", tmp_path / "home", "--grace", "3").start()
    clients = []
    try:
        body = b'{"status": "200", "h": "x"}'
        head = (
            "POST /hooks/echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {github_signature(body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", service.port), timeout=20)
            client.sendall(head + body[:5])
            clients.append(client)
        time.sleep(0.3)
        service.signal(signal.SIGTERM)
        code = service.wait(30)
        replies = [client.recv(65536) for client in clients]
    finally:
        for client in clients:
            client.close()
        service.stop()
    assert code == 0
    for reply in replies:
        assert reply.startswith(b"HTTP/1.1 503 ")
        assert reply.endswith(b'{"error": "the service is stopping"}')
    assert "Traceback" not in service.stderr
    assert "CancelledError" not in service.stderr


def test_a_plain_request_still_gets_its_sync_reply(serve: Serve) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
    try:
        body = b'{"status": "202", "h": "ok"}'
        conn.request(
            "POST",
            "/hooks/echo",
            body,
            {"Content-Type": "application/json", "X-Hub-Signature-256": github_signature(body)},
        )
        response = conn.getresponse()
        assert response.status == 202
        assert response.getheader("X-Echo") == "ok"
    finally:
        conn.close()
