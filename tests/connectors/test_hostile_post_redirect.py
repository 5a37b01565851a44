"""A POST answered with a redirect reached the server: whatever happens to the next hop,
the POST is not sent again (only a first hop that never left may be retried)."""

from __future__ import annotations

import socket

from hostile_pipeline import pipeline, run

from servers.hostile import answer

RETRY = {"attempts": 4, "initial_delay": "0.1s"}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_post_redirected_to_a_refusing_host_is_sent_once(hostile, tmp_path, capsys, monkeypatch):
    dead = f"http://127.0.0.1:{closed_port()}/done"
    hostile.canned("/orders", answer(302, b"", [("Location", dead)]))
    conn = {"base_url": hostile.url, "retry": RETRY}
    step = {"path": "/orders", "method": "POST", "json": {"order": 1}}
    result = run(tmp_path, pipeline(conn, step), capsys, monkeypatch)
    assert result.code == 1
    assert len(hostile.hits("/orders")) == 1
    assert (
        f"error: step 'call' failed: POST {hostile.url}/orders: redirected (302) to {dead}: "
        "the connection was refused (not retried: a POST may have reached the server; set "
        "idempotent: true if repeating it is safe)\n"
    ) in result.err


def test_a_get_redirected_to_a_refusing_host_is_retried(hostile, tmp_path, capsys, monkeypatch):
    dead = f"http://127.0.0.1:{closed_port()}/done"
    hostile.canned("/orders", answer(302, b"", [("Location", dead)]))
    conn = {"base_url": hostile.url, "retry": RETRY}
    result = run(tmp_path, pipeline(conn, {"path": "/orders"}), capsys, monkeypatch)
    assert result.code == 1
    assert len(hostile.hits("/orders")) == 4
    assert "attempt 1 redirected (302) to" in result.err
