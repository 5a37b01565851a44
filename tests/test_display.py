"""``_display``: the one escaping of outside text for terminals and JSON log lines, and
the progress line that uses it."""

from __future__ import annotations

import io
import json
import threading

import pytest

from hookline._display import json_safe, shown, shown_line
from hookline._progress import Progress

HOSTILE = "a\x1b]0;T\x07\x1b[2J\x9b1m\r\x08\x7f\u2028\u2029\u202e\u2066\x85\ufeff\x00z"


def test_shown_writes_each_unsafe_character_visibly_and_keeps_layout() -> None:
    assert shown(HOSTILE + "\n\tnext") == (
        "a\\x1b]0;T\\x07\\x1b[2J\\x9b1m\\r\\x08\\x7f\\u2028\\u2029\\u202e\\u2066\\x85\\ufeff"
        "\\x00z\n\tnext"
    )


def test_shown_line_escapes_line_breaks_and_tabs_too() -> None:
    assert shown_line("a\nb\tc\u2028d") == "a\\nb\\tc\\u2028d"


@pytest.mark.parametrize("text", ["plain text", "café — ünïcode ✓ 日本", "tab\tand\nline"])
def test_text_with_nothing_to_escape_is_returned_as_it_is(text: str) -> None:
    assert shown(text) == text
    assert json_safe(json.dumps(text, ensure_ascii=False)) == json.dumps(text, ensure_ascii=False)


def test_json_safe_is_the_same_value_on_one_line_for_any_splitter() -> None:
    line = json_safe(json.dumps({"m": HOSTILE, "k\u2028": ["\u202e"]}, ensure_ascii=False))
    assert line.splitlines() == [line]
    assert line.isascii() or all(c.isprintable() for c in line)
    assert json.loads(line) == {"m": HOSTILE, "k\u2028": ["\u202e"]}
    assert '"m": "a\\u001b]0;T\\u0007\\u001b[2J\\u009b1m\\r\\b\\u007f\\u2028\\u2029' in line


def test_the_progress_line_shows_a_label_escaped_on_one_line() -> None:
    bar = Progress(io.StringIO(), threading.Lock())
    bar.loop("each\x1b[2J\nx\u202e", 4)
    line = bar._line(bar._started)
    assert "each\\x1b[2J\\nx\\u202e 0/4" in line
    assert line.isprintable()
