"""Text from outside (an upstream's body, headers or error, a loop item, an input) made safe
to show: on a terminal, and in a JSON log line that collectors split into lines.

Shown raw, such text could retitle the window or clear the screen (ESC, BEL, OSC, C1 such
as CSI U+009B), move the cursor back over a line (CR, BS), break a line where none is
(U+2028, U+2029, NEL U+0085, VT, FF: ``str.splitlines`` and many collectors split on
them) or reorder what is shown (the bidirectional controls, U+202E). Each is written
visibly instead: ``\\x1b``, ``\\r``, ``\\u202e``.

Escape after redaction: a secret cut by an escape would no longer be found.

Every text output that shows outside data uses ``shown`` (the run log's text lines, the
progress line, ``hookline runs`` and ``runs show``), and every JSON text meant for a
terminal or a log collector ``json_safe``. Both return the text itself, at the cost of one
C-level scan, when there is nothing to escape: the log calls them for every line.
"""

from __future__ import annotations

import re

# Code points shown escaped: C0 (but tab and newline, which are layout), DEL, C1, the
# Arabic letter mark, LRM and RLM, the line and paragraph separators, the bidirectional
# embeddings, overrides and isolates, the byte order mark and the two noncharacters.
_UNSAFE = [
    *range(0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0xFEFF,
    0xFFFE,
    0xFFFF,
]

_SHOWN = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE}
_SHOWN[ord("\r")] = "\\r"
del _SHOWN[ord("\t")], _SHOWN[ord("\n")]

_SHOWN_LINE = {**_SHOWN, ord("\n"): "\\n", ord("\t"): "\\t"}

# In JSON text: json.dumps already escapes C0 inside strings (ensure_ascii=False leaves the
# rest raw); the others may stand only inside strings, where \uXXXX means the same.
_JSON = {c: f"\\u{c:04x}" for c in _UNSAFE if c >= 0x7F}


class _Escaper:
    """One table, applied the fastest way: ``str.translate`` on ASCII text (CPython has a
    fast path for it), a regular expression on the rest (translate looks every character
    up, about 20 times slower on a body of accented or CJK text)."""

    def __init__(self, table: dict[int, str]) -> None:
        self.table = table
        self.by_char = {chr(c): text for c, text in table.items()}
        self.pattern: re.Pattern[str] | None = None  # compiled at first use: start-up

    def __call__(self, text: str) -> str:
        if text.isascii():
            return text.translate(self.table)
        if self.pattern is None:
            self.pattern = re.compile("[" + "".join(map(re.escape, self.by_char)) + "]")
        return self.pattern.sub(self._one, text)

    def _one(self, found: re.Match[str]) -> str:
        return self.by_char[found.group()]


_shown = _Escaper(_SHOWN)
_shown_line = _Escaper(_SHOWN_LINE)
_json = _Escaper(_JSON)


def shown(text: str) -> str:
    """``text`` for a terminal or a text log: unsafe characters escaped, line breaks and
    tabs kept (they are layout)."""
    # isprintable() is False for every character escaped here (and for a few harmless
    # ones, such as a no-break space): a plain line costs one scan.
    return text if text.isprintable() else _shown(text)


def shown_line(text: str) -> str:
    """``text`` on one line (a table cell, the progress line): line breaks and tabs
    escaped too (``\\n``, ``\\t``)."""
    return text if text.isprintable() else _shown_line(text)


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL, C1, the line
    separators and the bidirectional controls written as ``\\uXXXX``: the same JSON value,
    one line whichever line splitter reads it, inert on a terminal."""
    return text if text.isascii() and "\x7f" not in text else _json(text)
