"""Texts made storable in PostgreSQL, whose ``text`` holds neither NUL nor a lone
surrogate (it would refuse the whole statement, and with it a run's record).

A lone surrogate (taken from an upstream's answer) becomes its escape ``\\udXXX``: in a
JSON text that is the same JSON value, in a plain text (an error) a readable mark. A NUL
becomes U+FFFD (a JSON text never holds one raw: JSON escapes it).
"""

from __future__ import annotations

import re

__all__ = ["plain"]

_BAD = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    return "\ufffd" if char == "\x00" else f"\\u{ord(char):04x}"


def plain(text: str | None) -> str | None:
    """``text`` as PostgreSQL can store it (unchanged when it already can)."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return _BAD.sub(_escape, text)
