"""Hostile connections against the public listener: pipelining without reading, idle
connections by the hundred, one client's many connections, a full house of requests, an
HTTP/2 preface. Real uvicorn on 127.0.0.1, raw sockets, limits shrunk per test."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest

from serve_hostile_support import body, exchange, header, listener, read_all, request, status


def test_a_client_pipelining_without_reading_is_cut_off(tmp_path: Path) -> None:
    # uvicorn parsed every pipelined request and kept them all waiting: 300 here would all
    # be answered, and a client that never reads grew the server's memory without end.
    with listener(tmp_path) as served:
        flood = b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n" * 300
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(flood)
            reply = read_all(sock)
    answers = reply.count(b"HTTP/1.1 404 ")
    assert answers <= 33  # the one in progress and the 32 allowed to wait, at most


def test_a_few_pipelined_requests_are_all_answered(tmp_path: Path) -> None:
    with listener(tmp_path) as served:
        three = request() * 2 + request(close=True)
        reply = exchange(served.port, three)
    assert reply.count(b"HTTP/1.1 202 ") == 3


def test_a_pipelined_request_in_progress_is_not_cut_off_by_the_header_deadline(
    tmp_path: Path,
) -> None:
    # The header deadline was armed again after the first answer although the second
    # request's headers had arrived: its answer, still coming, was cut off.
    with listener(tmp_path, header_timeout=0.5, body_timeout=5) as served:
        first = b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n"
        second = request(close=True)
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(first + second[:-2])  # the second's body comes late
            time.sleep(1.2)
            sock.sendall(second[-2:])
            reply = read_all(sock)
    assert reply.count(b"HTTP/1.1 404 ") == 1
    assert reply.count(b"HTTP/1.1 202 ") == 1


def test_idle_connections_do_not_lock_other_senders_out(tmp_path: Path) -> None:
    # uvicorn's concurrency limit counted idle connections: past it, every request got a
    # plain-text 503. Only requests in progress count now.
    with listener(tmp_path, max_requests=4, per_client=100) as served:
        idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(12)]
        for sock in idle[:6]:
            sock.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: a\r\n")  # headers never finish
        time.sleep(0.2)
        try:
            reply = exchange(served.port, request(close=True))
        finally:
            for sock in idle:
                sock.close()
    assert status(reply) == 202


def test_one_client_address_gets_at_most_per_client_connections(tmp_path: Path) -> None:
    with listener(tmp_path, per_client=3) as served:
        held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
        try:
            refused = exchange(served.port, b"", timeout=5)  # answered without a request
            held.pop().close()
            time.sleep(0.2)
            served_again = exchange(served.port, request(close=True))
        finally:
            for sock in held:
                sock.close()
        assert status(refused) == 503
        assert header(refused, "Retry-After") == "1"
        assert header(refused, "Content-Type") == "application/json"
        assert json.loads(body(refused)) == {"error": "the service is busy: try again later"}
        assert status(served_again) == 202
        assert served.refused("busy") == 1


def test_requests_past_the_limit_in_progress_get_a_json_503(tmp_path: Path) -> None:
    with listener(tmp_path, max_requests=1, body_timeout=5) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as slow:
            slow.sendall(request(close=True)[:-2])  # in progress: its body is awaited
            time.sleep(0.2)
            reply = exchange(served.port, request(close=True))
            slow.sendall(b"{}")
            slow_reply = read_all(slow)
        assert status(reply) == 503
        assert header(reply, "Retry-After") == "1"
        assert json.loads(body(reply)) == {"error": "the service is busy: try again later"}
        assert status(slow_reply) == 202
        assert served.refused("busy") == 1


def test_an_http2_preface_is_answered_505_with_one_plain_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"), listener(tmp_path) as served:
        reply = exchange(served.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert status(reply) == 505
    assert json.loads(body(reply)) == {"error": "this service speaks HTTP/1.1 only"}
    messages = [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"]
    assert messages == ["a client asked for HTTP/2 or an upgrade: answered 505"]
