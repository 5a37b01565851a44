"""Bounded memory: a response size cap applied after decompression, history bodies cut
(after redaction) before they are stored."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hostile_pipeline import SECRET, pipeline, run

from history_support import attempt_rows
from servers.hostile import Arrival, Conn, answer, gzip_bomb, head

MiB = 1024 * 1024
TEXT = [("Content-Type", "text/plain")]


def test_a_gzip_bomb_stops_at_the_cap(hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/bomb", answer(200, gzip_bomb(64 * MiB), [*TEXT, ("Content-Encoding", "gzip")]))
    text = pipeline({"base_url": hostile.url, "max_response_size": "1MiB"}, {"path": "/bomb"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert (
        f"error: step 'call' failed: GET {hostile.url}/bomb: the response body is larger than "
        "max_response_size (the most is 1 MiB); raise the connection's "
        "max_response_size to accept it" in result.err
    )


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    hostile, tmp_path, capsys, monkeypatch
):
    def lie(conn: Conn, _req: Arrival) -> None:
        conn.send(head(200, [*TEXT, ("Content-Length", str(50 * 1000**3))]))
        conn.sleep(30)  # would hold the run if the client waited for the body

    hostile.route("/big", lie)
    result = run(
        tmp_path, pipeline({"base_url": hostile.url}, {"path": "/big"}), capsys, monkeypatch
    )
    assert result.code == 1
    assert (
        "the response body is larger than max_response_size (50000000000 bytes, the most is "
        "10 MiB)" in result.err
    )


def test_an_endless_chunked_body_stops_at_the_cap(hostile, tmp_path, capsys, monkeypatch):
    def endless(conn: Conn, _req: Arrival) -> None:
        conn.send(head(200, [*TEXT, ("Transfer-Encoding", "chunked")]))
        chunk = b"10000\r\n" + b"z" * 0x10000 + b"\r\n"
        for _ in range(1000):  # 64 MiB, unless the client hangs up first
            if conn.closed:
                return
            conn.send(chunk)

    hostile.route("/endless", endless)
    conn = {"base_url": hostile.url, "max_response_size": "2MB"}
    result = run(tmp_path, pipeline(conn, {"path": "/endless"}), capsys, monkeypatch)
    assert result.code == 1
    assert "larger than max_response_size (the most is 2000000 bytes)" in result.err


def test_a_larger_cap_lets_a_larger_answer_through(hostile, tmp_path, capsys, monkeypatch):
    body = b"a" * (11 * MiB)
    hostile.canned("/big", answer(200, body, TEXT))
    conn = {"base_url": hostile.url, "max_response_size": "50MB"}
    text = pipeline(conn, {"path": "/big"}, output="${{ length(steps.call.body) }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert (result.code, result.output) == (0, 11 * MiB)


def test_history_bodies_are_redacted_then_cut(hostile, tmp_path, capsys, monkeypatch):
    # The secret straddles the cut: cutting first would keep its first half.
    body = ("x" * (64 * 1024 - 10) + SECRET + "y" * 300_000).encode()
    hostile.canned("/long", answer(200, body, TEXT))
    text = pipeline({"base_url": hostile.url}, {"path": "/long"}, output="${{ steps.call.status }}")
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 0, result.err
    (attempt,) = attempt_rows(result.db)
    stored = attempt["response"]["body"]
    assert SECRET[:8] not in stored
    assert stored.endswith(f"… (truncated: {len(body)} characters in all)")
    assert len(stored) < 64 * 1024 + 100


def test_error_snippets_are_redacted_then_cut(hostile, tmp_path, capsys, monkeypatch):
    body = ("e" * 190 + SECRET + "tail").encode()
    hostile.canned("/err", answer(500, body, TEXT))
    result = run(
        tmp_path, pipeline({"base_url": hostile.url}, {"path": "/err"}), capsys, monkeypatch
    )
    assert result.code == 1
    assert SECRET[:6] not in result.err
    assert "e" * 190 + "***" in result.err


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_a_one_megabyte_gzip_bomb_stays_within_the_cap_plus_64_mib(hostile, tmp_path):
    bomb = gzip_bomb(1024 * MiB)  # about 1 MB on the wire, 1 GiB unpacked
    hostile.canned("/bomb", answer(200, bomb, [*TEXT, ("Content-Encoding", "gzip")]))
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"base_url": hostile.url}, {"path": "/bomb"}), encoding="utf-8")
    probe = textwrap.dedent(f"""
        import resource, sys
        from hookline.cli import main
        code = main(["run", {str(path)!r}, "--db", {str(tmp_path / "h.db")!r}])
        print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    env = {**os.environ, "TOKEN": SECRET}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    code, peak_kib = done.stdout.split()
    assert code == "1", done.stderr
    assert "larger than max_response_size" in done.stderr
    assert int(peak_kib) * 1024 < 10 * MiB + 64 * MiB + _baseline_rss()


def _baseline_rss() -> int:
    """Peak memory of an interpreter that imported hookline and requests: the part of the
    process no cap can lower."""
    probe = (
        "import resource, requests, hookline.cli; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return int(done.stdout) * 1024
