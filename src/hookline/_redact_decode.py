"""Decoded views of a text, with a map back to where each decoded character came from.

A server may escape any character of a secret it echoes, not only the ones a given
encoder escapes: .NET writes ``+`` as ``\\u002B``, Go writes ``<>&`` as ``\\u003c``...,
some servers escape every character, in upper- or lower-case hex, and a JSON document
held in a JSON string doubles each backslash. Listing the forms of a secret cannot cover
every mix of escaped and literal characters, so the redactor also searches the *decoded*
text for the plain secret and masks the source span the match came from.

Two views are made, one per escaping scheme (JSON string escapes, once or twice; percent
escapes), never mixed: a secret that holds ``%41`` itself is still found in a JSON echo.
Only the escapes are decoded; the text between them maps one to one, so the cost grows
with the number of escapes, and a text without a backslash (or a ``%``) costs nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

# One escape in a JSON string, written once (``\u002B``, ``\"``) or twice (``\\u002B``,
# ``\\\"``): a surrogate pair first, so that a character above the BMP decodes whole.
JSON_ESCAPE = re.compile(
    r"\\{1,2}u([dD][89abAB][0-9a-fA-F]{2})\\{1,2}u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\{1,2}u([0-9a-fA-F]{4})"
    r"|\\{1,3}([\"/bfnrt])"
    r"|\\\\(?:\\\\)?"
)
_SHORT = {'"': '"', "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# One percent-encoded character: an ASCII byte, or the bytes of one UTF-8 sequence.
PERCENT_ESCAPE = re.compile(r"%[0-7][0-9a-fA-F]|%[c-fC-F][0-9a-fA-F](?:%[89abAB][0-9a-fA-F]){1,3}")


def decode_json(match: re.Match[str]) -> str:
    high, low, unit, short = match.groups()
    if high is not None:
        pair = (int(high, 16) - 0xD800) * 0x400 + (int(low, 16) - 0xDC00)
        return chr(0x10000 + pair)
    if unit is not None:
        return chr(int(unit, 16))
    if short is not None:
        return _SHORT[short]
    return "\\"


def decode_percent(match: re.Match[str]) -> str:
    raw = bytes.fromhex(match.group(0).replace("%", ""))
    return raw.decode("utf-8", errors="replace")


class DecodedView:
    """``text`` with every escape that ``escape`` finds replaced by what it stands for;
    ``source_span`` maps a span of the decoded text back to the source text. An escape
    is atomic: a match that takes any part of it takes the whole escape."""

    def __init__(
        self, text: str, escape: re.Pattern[str], decode: Callable[[re.Match[str]], str]
    ) -> None:
        pieces: list[str] = []
        # For each escape: where it starts in the decoded text, how long its decoding
        # is, and where it starts and ends in the source.
        self._at: list[int] = []
        self._length: list[int] = []
        self._start: list[int] = []
        self._end: list[int] = []
        pos = 0
        size = 0
        for match in escape.finditer(text):
            pieces.append(text[pos : match.start()])
            size += match.start() - pos
            char = decode(match)
            self._at.append(size)
            self._length.append(len(char))
            self._start.append(match.start())
            self._end.append(match.end())
            pieces.append(char)
            size += len(char)
            pos = match.end()
        pieces.append(text[pos:])
        self.text = "".join(pieces)
        self.escaped = bool(self._at)

    def _source(self, index: int) -> tuple[int, int]:
        """The source span of the decoded character at ``index``."""
        k = bisect_right(self._at, index) - 1
        if k < 0:
            return index, index + 1
        if index < self._at[k] + self._length[k]:
            return self._start[k], self._end[k]
        at = self._end[k] + index - self._at[k] - self._length[k]
        return at, at + 1

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        return self._source(start)[0], self._source(end - 1)[1]


def mask_escaped(text: str, pattern: re.Pattern[str], mask: str) -> str:
    """``text`` with every span whose decoding ``pattern`` matches replaced by ``mask``:
    JSON escapes first, then percent escapes, never mixed. A text with neither a
    backslash nor a percent sign, which is most of them, is returned as it is."""
    if "\\" in text:
        text = _mask_one(text, pattern, mask, JSON_ESCAPE, decode_json)
    if "%" in text:
        text = _mask_one(text, pattern, mask, PERCENT_ESCAPE, decode_percent)
    return text


def _mask_one(
    text: str,
    pattern: re.Pattern[str],
    mask: str,
    escape: re.Pattern[str],
    decode: Callable[[re.Match[str]], str],
) -> str:
    # Most texts hold no secret: decode without a position map first (the loop runs in
    # C), and map positions only when there is something to mask.
    if pattern.search(escape.sub(decode, text)) is None:
        return text
    view = DecodedView(text, escape, decode)
    out = []
    pos = 0
    for match in pattern.finditer(view.text):
        start, end = view.source_span(*match.span())
        if start < pos:  # two matches within one escape: masked once
            continue
        out.append(text[pos:start])
        out.append(mask)
        pos = end
    out.append(text[pos:])
    return "".join(out)
