"""Hostile requests against the webhook app: bodies sent to be buffered without a
signature, a budget of buffered bodies, a stop while bodies stall, paths and headers
built to confuse, digits that are not ASCII, a UTF-8 token. Real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from serve_hostile_support import (
    PIPELINE,
    body,
    exchange,
    header,
    listener,
    read_all,
    request,
    status,
)


def _error(reply: bytes) -> str:
    return str(json.loads(body(reply))["error"])


def test_a_request_without_its_token_header_is_refused_before_its_body(tmp_path: Path) -> None:
    # The body used to be read (up to max_body, for up to 30 s) before the check.
    with listener(tmp_path, body_timeout=5) as served:
        head = request(token=None, headers={"Content-Length": "1000000"}, body=b"")
        with socket.create_connection(("127.0.0.1", served.port), timeout=3) as sock:
            sock.sendall(head)  # and not a byte of the body
            reply = read_all(sock)
    assert status(reply) == 401
    assert _error(reply) == "the X-Token header is missing"
    assert header(reply, "Connection") == "close"


def test_bodies_held_at_once_are_capped_with_a_503(tmp_path: Path) -> None:
    with listener(tmp_path, max_buffered=1000) as served:
        big = request(body=b'{"a": "' + b"x" * 790 + b'"}')  # 800 bytes
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as slow:
            slow.sendall(big[:-10])  # its 800 bytes are promised: the body is awaited
            time.sleep(0.2)
            refused = exchange(served.port, request(body=b'{"b": "' + b"y" * 291 + b'"}'))
            slow.sendall(big[-10:])
            first = slow.recv(65536)
        again = exchange(served.port, request(body=b'{"b": "' + b"y" * 291 + b'"}', close=True))
        assert served.refused("busy") == 1
    assert status(refused) == 503
    assert header(refused, "Retry-After") == "1"
    assert _error(refused) == "the service is busy: try again later"
    assert status(first) == 202
    assert status(again) == 202  # the budget was given back


def test_a_chunked_body_takes_from_the_budget_as_it_comes(tmp_path: Path) -> None:
    with listener(tmp_path, max_buffered=100) as served:
        head = request(body=b"", headers={"Transfer-Encoding": "chunked"})
        head = head.replace(b"Content-Length: 0\r\n", b"")
        chunk = b"40\r\n" + b" " * 64 + b"\r\n"
        reply = exchange(served.port, head + chunk + chunk + b"0\r\n\r\n")
    assert status(reply) == 503
    assert _error(reply) == "the service is busy: try again later"


def test_stopping_ends_a_stalled_body_read_with_a_503(tmp_path: Path) -> None:
    with listener(tmp_path, body_timeout=20) as served:
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        with sock:
            sock.sendall(request()[:-1])  # one byte of the body missing
            time.sleep(0.2)
            served.app.stopping = True
            reply = read_all(sock)  # well before the 20 s body deadline (socket timeout 10 s)
    assert status(reply) == 503
    assert _error(reply) == "the service is stopping"


def test_an_encoded_slash_does_not_reach_a_route(tmp_path: Path) -> None:
    with listener(tmp_path) as served:
        encoded_slash = exchange(served.port, request("/hooks%2Fx", close=True))
        encoded_letter = exchange(served.port, request("/hooks/%78", close=True))
    assert status(encoded_slash) == 404
    assert status(encoded_letter) == 202  # '%78' is 'x': only '/' keeps its escape


def test_a_repeated_header_that_matters_is_refused_naming_it(tmp_path: Path) -> None:
    with listener(tmp_path) as served:
        two_tokens = request(close=True).replace(b"X-Token:", b"X-Token: wrong\r\nX-Token:")
        two_types = request(close=True).replace(
            b"Content-Type:", b"Content-Type: text/plain\r\nContent-Type:"
        )
        two_ids = request(close=True, headers={"X-Delivery": "1"}).replace(
            b"X-Delivery:", b"X-Delivery: 2\r\nX-Delivery:"
        )
        two_pads = request(close=True, headers={"X-Pad": "1"}).replace(
            b"X-Pad:", b"X-Pad: 2\r\nX-Pad:"
        )
        replies = [exchange(served.port, r) for r in (two_tokens, two_types, two_ids, two_pads)]
    assert [status(r) for r in replies] == [400, 400, 400, 202]
    assert _error(replies[0]) == "the X-Token header is sent more than once"
    assert _error(replies[1]) == "the Content-Type header is sent more than once"
    assert _error(replies[2]) == "the x-delivery header is sent more than once"


def test_a_compressed_body_is_refused_415_naming_the_encoding(tmp_path: Path) -> None:
    with listener(tmp_path) as served:
        reply = exchange(served.port, request(close=True, headers={"Content-Encoding": "gzip"}))
    assert status(reply) == 415
    assert _error(reply) == "the Content-Encoding is 'gzip': send the body uncompressed"


STRIPE = PIPELINE.replace(
    'token: {secret: "${{ secrets.HOOK_SECRET }}", header: X-Token}',
    'signature: {secret: "${{ secrets.HOOK_SECRET }}", scheme: stripe}',
)


def test_a_stripe_timestamp_of_non_ascii_digits_is_a_401(tmp_path: Path) -> None:
    # '²'.isdigit() is True and int('²') raised: a 500 with a traceback.
    with listener(tmp_path, pipeline=STRIPE) as served:
        sent = request(token=None, close=True, headers={"Stripe-Signature": "t=²,v1=00"})
        reply = exchange(served.port, sent)  # '²' is the byte 0xB2 (Latin-1)
        served_log = served.log.getvalue()
    assert status(reply) == 401
    assert _error(reply) == "the Stripe-Signature header is not 't=<time>,v1=<hex digest>'"
    assert "Traceback" not in served_log


def test_a_non_ascii_token_sent_as_utf8_is_accepted(tmp_path: Path) -> None:
    token = "tökén-ü-1234"
    with listener(tmp_path, secret=token) as served:
        sent = request(token="TOKEN", close=True).replace(b"TOKEN", token.encode())
        accepted = exchange(served.port, sent)
        wrong = request(token="TOKEN", close=True).replace(b"TOKEN", token.encode("latin-1"))
        refused = exchange(served.port, wrong)
    assert status(accepted) == 202
    assert status(refused) == 401


def test_one_pipelines_backlog_leaves_room_for_the_others(tmp_path: Path) -> None:
    # --max-queue was one count for all: one pipeline's backlog refused every other one.
    with listener(tmp_path, max_queue=10) as served:
        taken = [exchange(served.port, request(close=True)) for _ in range(9)]
        over = exchange(served.port, request(close=True))
        other = exchange(served.port, request("/hooks/y", close=True))
        full = exchange(served.port, request("/hooks/y", close=True))
    assert [status(r) for r in taken] == [202] * 9  # 90% of the queue for one pipeline
    assert status(over) == 503
    assert header(over, "Retry-After") == "30"
    assert _error(over) == "the queue holds this webhook's share of deliveries: try again later"
    assert status(other) == 202
    assert status(full) == 503
    assert _error(full) == "the queue is full: try again later"
