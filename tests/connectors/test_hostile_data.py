"""No crash from data: every odd answer or request is a step failure that on_error sees,
with a clear message; never a traceback, never exit 3.

Each case runs with ``on_error: continue`` and outputs the error the step left, so the
test proves on_error saw it, and checks the exact message a user would read.
"""

from __future__ import annotations

import zlib

import pytest
from hostile_pipeline import pipeline, run

from servers.hostile import Arrival, Conn, answer, gzipped, head

JSON = [("Content-Type", "application/json")]


def reset_after_headers(conn: Conn, _req: Arrival) -> None:
    conn.send(head(200, [("Content-Length", "100")]) + b"partial")
    conn.reset()


def truncated_chunked(conn: Conn, _req: Arrival) -> None:
    conn.send(head(200, [("Transfer-Encoding", "chunked")]) + b"10\r\nonly-a-few")
    conn.close()


ANSWERS = {
    "reset before answering": (lambda conn, _req: conn.reset(), "the connection broke"),
    "reset in the body": (reset_after_headers, "the connection broke"),
    "content-length lie": (
        lambda conn, _req: conn.send(head(200, [("Content-Length", "5000")]) + b"short"),
        "the connection broke",
    ),
    "truncated chunked body": (truncated_chunked, "the connection broke"),
    "invalid gzip": (
        lambda conn, _req: conn.send(
            answer(200, b"this is not gzip", [("Content-Encoding", "gzip")])
        ),
        "the body is not valid gzip (Error -3 while decompressing data: incorrect header check)",
    ),
    "gzip cut short": (
        lambda conn, _req: conn.send(
            answer(200, gzipped(b"x" * 1000)[:-12], [("Content-Encoding", "gzip")])
        ),
        "the body is not valid gzip (the compressed body is cut short)",
    ),
    "unknown encoding": (
        lambda conn, _req: conn.send(answer(200, b"\x00\x01", [("Content-Encoding", "br")])),
        "the body is in Content-Encoding 'br', which is not supported (hookline asks for gzip "
        "or deflate)",
    ),
    "garbage status line": (
        lambda conn, _req: conn.send(b"SPDY/9 banana\r\n\r\n"),
        "the connection broke",
    ),
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_a_broken_answer_is_a_step_failure_on_error_sees(
    case, hostile, tmp_path, capsys, monkeypatch
):
    behaviour, reason = ANSWERS[case]
    hostile.route("/x", behaviour)
    text = pipeline(
        {"base_url": hostile.url}, {"path": "/x"}, on_error="continue",
        output="${{ steps.call.error.message }}",
    )  # fmt: skip
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == f"GET {hostile.url}/x: {reason}"


def test_deeply_nested_json_is_refused_clearly(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/deep", answer(200, b"[" * 100_000 + b"]" * 100_000, JSON))
    text = pipeline({"base_url": hostile.url}, {"path": "/deep"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {hostile.url}/deep answered 200 with Content-Type "
        "application/json but the JSON body is nested more than 128 levels deep; it begins: "
        "'[[[[" in result.err
    )


def test_a_lone_surrogate_in_json_becomes_a_replacement_character(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned("/s", answer(200, b'{"name": "a\\ud800b"}', JSON))
    text = pipeline({"base_url": hostile.url}, {"path": "/s"}, output="${{ steps.call.body }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == {"name": "a\ufffdb"}


def test_a_header_outside_latin_1_is_refused_by_name(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/h", answer(200, b"ok"))
    text = pipeline(
        {"base_url": hostile.url},
        {"path": "/h", "headers": {"X-Title": "prix 5 € 🎉"}},
        on_error="continue",
        output="${{ steps.call.error.message }}",
    )
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == (
        f"GET {hostile.url}/h: header 'X-Title' holds characters outside Latin-1, which an "
        "HTTP header cannot carry; encode the value first (base64 or percent-encoding)"
    )
    assert hostile.arrivals == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1", "not a valid URL (Invalid IPv6 URL)"),
        ("http://127.0.0.1:99999/x", "not a valid URL (Port out of range 0-65535)"),
        ("ftp://127.0.0.1/x", "not an http:// or https:// URL"),
    ],
)
def test_an_invalid_url_is_a_step_failure(url, reason, hostile, tmp_path, capsys, monkeypatch):
    text = pipeline(
        {"base_url": hostile.url}, {"url": url}, on_error="continue",
        output="${{ steps.call.error.message }}",
    )  # fmt: skip
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output.endswith(f": {reason}")


def test_a_patch_is_not_retried(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/p", answer(503, b"busy"))
    conn = {"base_url": hostile.url, "retry": {"attempts": 3, "initial_delay": "10ms"}}
    text = pipeline(conn, {"path": "/p", "method": "PATCH", "json": {"a": 1}})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert len(hostile.hits("/p")) == 1


def test_a_post_is_not_repeated_after_the_connection_dropped_mid_request(
    hostile, tmp_path, capsys, monkeypatch
):
    hostile.route("/order", lambda conn, _req: conn.reset())  # read it, then reset
    conn = {"base_url": hostile.url, "retry": {"attempts": 3, "initial_delay": "10ms"}}
    text = pipeline(conn, {"path": "/order", "method": "POST", "json": {"qty": 1}})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: POST {hostile.url}/order: the connection broke (not "
        "retried: a POST may have reached the server; set idempotent: true if repeating it is "
        "safe)" in result.err
    )
    assert len(hostile.hits("/order")) == 1


def test_a_get_is_retried_after_a_reset(hostile, tmp_path, capsys, monkeypatch):
    hostile.route("/g", lambda conn, _req: conn.reset())
    conn = {"base_url": hostile.url, "retry": {"attempts": 3, "initial_delay": "10ms"}}
    result = run(tmp_path, pipeline(conn, {"path": "/g"}), capsys, monkeypatch)
    assert result.code == 1
    assert len(hostile.hits("/g")) == 3


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODED = {
    "gzip": ("gzip", gzipped(b'{"n": 1}')),
    "two gzip members": ("gzip", gzipped(b'{"n": ') + gzipped(b"1}")),
    "zlib deflate": ("deflate", zlib.compress(b'{"n": 1}')),
    "raw deflate": ("deflate", _raw_deflate(b'{"n": 1}')),
}


@pytest.mark.parametrize("case", sorted(ENCODED))
def test_compressed_answers_are_read(case, hostile, tmp_path, capsys, monkeypatch):
    encoding, body = ENCODED[case]
    hostile.canned("/z", answer(200, body, [*JSON, ("Content-Encoding", encoding)]))
    text = pipeline({"base_url": hostile.url}, {"path": "/z"}, output="${{ steps.call.body }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert (result.code, result.output) == (0, {"n": 1}), result.err
