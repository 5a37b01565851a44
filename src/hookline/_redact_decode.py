"""Decoded views of a text, with a map back to where each decoded character came from.

A server may escape any character of a secret it echoes, not only the ones a given
encoder escapes: .NET writes ``+`` as ``\\u002B``, Go writes ``<>&`` as ``\\u003c``...,
some servers escape every character, in upper- or lower-case hex, and a JSON document
held in a JSON string doubles each backslash. Listing the forms of a secret cannot cover
every mix of escaped and literal characters, so the redactor also searches the *decoded*
text for the plain secret and masks the source span the match came from.

Views are made one per escaping scheme (JSON string escapes, once or twice; percent
escapes; XML and HTML character references, once or twice), never mixed, so that a secret
that holds ``%41`` itself is still found in a JSON echo; one more view decodes JSON and
XML escapes together, for an XML text held in a JSON string (a SOAP envelope echoed in a
JSON error), and is made only for a text holding both a backslash and an ampersand.
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


# One XML or HTML character reference, written once (``&lt;``) or escaped once more
# (``&amp;lt;``: an XML document carried as text inside another, as SOAP services do):
# numeric in decimal or hex, or named. Names are bounded to 8 characters (``&eacute;``,
# ``&hellip;``; HTML has longer ones no encoder writes for a secret's characters) and
# numbers to 7 digits, so that one character's reference is at most 14 characters long
# (``ESCAPED_CHAR``), which ``Redactor.clip`` relies on.
XML_ESCAPE = re.compile(
    r"&(?:amp;)?(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,7});"
)
ESCAPED_CHAR = 14  # the longest a character's escape can be: ``&amp;#1114111;``, ``\\uD83D``...
_XML_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}

# JSON escapes and XML references in one pass (the XML part has no group, so that
# ``decode_json`` sees its own four).
MIXED_ESCAPE = re.compile(f"{JSON_ESCAPE.pattern}|{XML_ESCAPE.pattern}")


def decode_xml(match: re.Match[str]) -> str:
    return decode_reference(match.group(0))


def decode_reference(ref: str) -> str:
    """The character a reference stands for; a reference that stands for none (an
    unknown name, a number past U+10FFFF or a surrogate) is left as it is."""
    body = ref[1:-1].removeprefix("amp;")  # ``&amp;lt;``: escaped twice
    if body[0] != "#":
        named = _XML_NAMED.get(body)
        if named is not None:
            return named
        from html.entities import html5  # a large table: imported only when needed

        return html5.get(body + ";", ref)
    code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return ref


def decode_mixed(match: re.Match[str]) -> str:
    return decode_xml(match) if match.group(0)[0] == "&" else decode_json(match)


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


def mask_escaped(
    text: str, pattern: re.Pattern[str], mask: str, chars: frozenset[str] = frozenset()
) -> str:
    """``text`` with every span whose decoding ``pattern`` matches replaced by ``mask``:
    JSON escapes first, then percent escapes, then XML references, then JSON and XML
    together (``chars``: the characters of the secrets). A text with no backslash,
    percent sign or ampersand, which is most of them, is returned as it is."""
    if "\\" in text:
        text = _mask_one(text, pattern, mask, JSON_ESCAPE, decode_json)
    if "%" in text:
        text = _mask_one(text, pattern, mask, PERCENT_ESCAPE, decode_percent)
    if "&" in text:
        text = _mask_references(text, pattern, mask, chars)
    return text


def _mask_references(text: str, pattern: re.Pattern[str], mask: str, chars: frozenset[str]) -> str:
    """The XML views. Each distinct reference is decoded once (an HTML table holds
    ``&amp;`` thousands of times): when none stands for a character of a secret, a
    secret in the decoded text is made of literal characters only, so it stands as it
    is in ``text``, where the plain pass masked it already. Otherwise the decoded text
    is joined in C from the pieces between references and their decodings."""
    refs = XML_ESCAPE.findall(text)
    table = {ref: decode_reference(ref) for ref in set(refs)}
    if all(chars.isdisjoint(char) for char in table.values()):
        return text
    pieces: list[str] = [""] * (2 * len(refs) + 1)
    pieces[0::2] = XML_ESCAPE.split(text)
    pieces[1::2] = map(table.__getitem__, refs)
    if pattern.search("".join(pieces)) is not None:
        text = _mask_one(text, pattern, mask, XML_ESCAPE, decode_xml, checked=True)
    if "\\" in text:
        text = _mask_one(text, pattern, mask, MIXED_ESCAPE, decode_mixed)
    return text


def _mask_one(
    text: str,
    pattern: re.Pattern[str],
    mask: str,
    escape: re.Pattern[str],
    decode: Callable[[re.Match[str]], str],
    *,
    checked: bool = False,
) -> str:
    # Most texts hold no secret: decode without a position map first (the loop runs in
    # C), and map positions only when there is something to mask (unless ``checked``:
    # the caller found something already).
    if not checked and pattern.search(escape.sub(decode, text)) is None:
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
