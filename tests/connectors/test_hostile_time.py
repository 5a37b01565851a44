"""Bounded time: a connection's timeout bounds each attempt whole (connect, headers, body);
a step's timeout bounds retries and backoff; Retry-After is capped and never crashes.

Bounds are "within the deadline plus one second" for hostile servers that would
otherwise hold the run for a minute or more.
"""

from __future__ import annotations

import time

import pytest
from hostile_pipeline import pipeline, run

from servers.hostile import Arrival, Conn, answer, head

SLOW = 60  # bytes sent one every half second: 30 s without the total deadline


def slow_body(conn: Conn, _req: Arrival) -> None:
    conn.send(head(200, [("Content-Type", "text/plain"), ("Content-Length", str(SLOW))]))
    conn.trickle(b"x" * SLOW, 0.5)


def slow_close_delimited_body(conn: Conn, _req: Arrival) -> None:
    # No length: the body ends when the connection closes. A watchdog that only closes
    # the socket would make this look like a complete (short) answer.
    conn.send(head(200, [("Content-Type", "text/plain"), ("Connection", "close")]))
    conn.trickle(b"x" * SLOW, 0.5)


def slow_headers(conn: Conn, _req: Arrival) -> None:
    conn.trickle(head(200, [("X-Pad", "y" * SLOW), ("Content-Length", "0")]), 0.5)


@pytest.mark.parametrize(
    "behaviour", [slow_body, slow_close_delimited_body, slow_headers], ids=lambda f: f.__name__
)
def test_a_trickling_server_is_cut_at_the_connection_timeout(
    behaviour, hostile, tmp_path, capsys, monkeypatch
):
    hostile.route("/slow", behaviour)
    text = pipeline({"base_url": hostile.url, "timeout": "1s"}, {"path": "/slow"})
    started = time.monotonic()
    result = run(tmp_path, text, capsys, monkeypatch)
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {hostile.url}/slow: no complete answer within 1s "
        "(timeout)" in result.err
    )
    assert elapsed < 1 + 1


def test_the_steps_timeout_bounds_a_trickling_answer(hostile, tmp_path, capsys, monkeypatch):
    hostile.route("/slow", slow_body)
    text = pipeline({"base_url": hostile.url, "timeout": "20s"}, {"path": "/slow"}, timeout="1s")
    started = time.monotonic()
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert time.monotonic() - started < 1 + 1
    assert (
        f"error: step 'call' failed: GET {hostile.url}/slow: timed out after 1s (the step's "
        "timeout)" in result.err
    )


def test_the_steps_timeout_stops_retries_and_the_log_says_why(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned("/busy", answer(503, b"busy"))
    conn = {
        "base_url": hostile.url,
        "retry": {"attempts": 50, "initial_delay": "400ms", "multiplier": 1},
    }
    text = pipeline(conn, {"path": "/busy"}, timeout="1500ms")
    started = time.monotonic()
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert time.monotonic() - started < 1.5 + 1
    assert 2 <= len(hostile.hits("/busy")) < 10
    # Jittered waits decide where the deadline falls: between attempts (the next one would
    # start after it) or during one (the request is cut). Either way the log says why.
    if "not retrying: the next attempt would start in" in result.err:
        assert "after the step's timeout" in result.err
        assert f"GET {hostile.url}/busy answered 503 Whatever: busy" in result.err
    else:
        assert (
            f"step 'call' failed: GET {hostile.url}/busy: timed out after 1.5s "
            "(the step's timeout)" in result.err
        )


def test_a_retry_after_beyond_the_cap_stops_retrying(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/busy", answer(429, b"later", [("Retry-After", "3600")]))
    conn = {"base_url": hostile.url, "retry": {"attempts": 3, "max_retry_after": "10s"}}
    started = time.monotonic()
    result = run(tmp_path, pipeline(conn, {"path": "/busy"}), capsys, monkeypatch)
    assert result.code == 1
    assert time.monotonic() - started < 5
    assert (
        "call: not retrying: the server asked to wait 3600s (Retry-After), more than "
        "max_retry_after (10s)" in result.err
    )
    assert len(hostile.hits("/busy")) == 1


def test_retry_after_defaults_to_a_two_minute_cap(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/busy", answer(503, b"", [("Retry-After", "121")]))
    conn = {"base_url": hostile.url, "retry": {"attempts": 2}}
    result = run(tmp_path, pipeline(conn, {"path": "/busy"}), capsys, monkeypatch)
    assert result.code == 1
    assert "more than max_retry_after (120s)" in result.err


def test_attempts_used_up_is_said_in_the_log(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/busy", answer(503, b""))
    conn = {"base_url": hostile.url, "retry": {"attempts": 2, "initial_delay": "10ms"}}
    result = run(tmp_path, pipeline(conn, {"path": "/busy"}), capsys, monkeypatch)
    assert result.code == 1
    assert "call: not retrying: all 2 attempts used" in result.err


@pytest.mark.parametrize(
    "value",
    ["²", "-5", "1.5", "9" * 400, "Mon, 99 Foo 2026 25:61:61 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
     "soon", ""],
)  # fmt: skip
def test_an_odd_retry_after_never_crashes(value, hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/busy", answer(503, b"", [("Retry-After", value)]))
    conn = {"base_url": hostile.url, "retry": {"attempts": 2, "initial_delay": "10ms"}}
    result = run(tmp_path, pipeline(conn, {"path": "/busy"}), capsys, monkeypatch)
    assert result.code == 1
    assert f"error: step 'call' failed: GET {hostile.url}/busy answered 503" in result.err
    assert "Traceback" not in result.err
