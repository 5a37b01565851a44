"""An upstream's charset is untrusted: one that decodes to lone surrogates
(unicode_escape, raw_unicode_escape, utf-7) or a codec that is no charset at all (idna,
undefined) gives text a user can print and the history can store, never exit 3."""

from __future__ import annotations

import pytest
from hostile_pipeline import pipeline, run

from servers.hostile import answer

CASES = [
    ("unicode_escape", b"a\\ud800b", "a\ufffdb"),
    ("raw_unicode_escape", b"a\\ud800b", "a\ufffdb"),
    ("utf-7", b"a+2AA-b", "a\ufffdb"),
    ("idna", b"caf\xc3\xa9", "caf\u00e9"),  # read as UTF-8
    ("undefined", b"plain", "plain"),
]


@pytest.mark.parametrize(("charset", "body", "text"), CASES)
def test_a_hostile_charset_gives_printable_text(
    charset, body, text, hostile, tmp_path, capsys, monkeypatch
):
    hostile.canned("/t", answer(200, body, [("Content-Type", f"text/plain; charset={charset}")]))
    source = pipeline({"base_url": hostile.url}, {"path": "/t"}, output="${{ steps.call.body }}")
    result = run(tmp_path, source, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.output == text
