"""An answer whose header block is cut short or broken is a step failure, not a 200."""

from __future__ import annotations

import pytest
from hostile_pipeline import pipeline, run


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Ty", "the connection closed before the headers ended"),
        (
            b"HTTP/1.1 200 OK\r\nGarbage\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok",
            "the answer's headers are not valid HTTP (a line without a colon)",
        ),
    ],
)
def test_a_broken_header_block_fails_the_step(data, reason, hostile, tmp_path, capsys, monkeypatch):
    hostile.canned("/cut", data)
    text = pipeline({"base_url": hostile.url}, {"path": "/cut"})
    result = run(tmp_path, text, capsys, monkeypatch)
    assert result.code == 1
    assert f"error: step 'call' failed: GET {hostile.url}/cut: {reason}\n" in result.err
    assert len(hostile.hits("/cut")) == 1  # a GET, but no retry policy: sent once
