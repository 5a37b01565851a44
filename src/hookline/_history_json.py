"""JSON text for the run history, cut at a limit while it is being encoded.

Serialising a 100 MB result whole to keep its first 64 KiB would cost 100 MB of string;
the streaming encoder stops as soon as the limit is passed, and each string is cut to
the limit before it is escaped, so the cost is bounded by the limit, not by the value.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterator
from typing import Any

# The standard library's streaming encoder, the one JSONEncoder.iterencode uses. Called
# directly so that strings can be cut before they are escaped (one chunk per string).
_make_iterencode: Callable[..., Callable[[Any, int], Iterator[str]]] = getattr(  # noqa: B009
    json.encoder, "_make_iterencode"
)
_escape: Callable[[str], str] = json.encoder.encode_basestring
_FLOAT = json.JSONEncoder(ensure_ascii=False).iterencode  # only for its float rules


def _floatstr(value: float) -> str:
    return "".join(_FLOAT(value))


def history_json(value: Any, limit: int | None = None) -> str | None:
    """``value`` as JSON text; past ``limit`` characters, a small JSON object
    ``{"truncated": true, "limit": N, "start": "<the first N characters>"}``.

    ``value`` is already redacted: cutting after redaction cannot leave part of a secret.
    """
    if value is None:
        return None
    if limit is None:
        return json.dumps(value, ensure_ascii=False, default=str)
    if _fits(value, limit):
        # Most values are small: the C encoder, then a check. Escapes make the text at
        # most six times what _fits counted, so this costs a bounded amount too.
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) <= limit:
            return text

    parts: list[str] = []
    size = 0
    for chunk in _chunks(value, limit):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            start = "".join(parts)[:limit]
            return json.dumps({"truncated": True, "limit": limit, "start": start})
    return "".join(parts)


def _chunks(value: Any, limit: int) -> Iterator[str]:
    """The JSON text of ``value`` in pieces, the same text ``json.dumps`` gives: a list or
    a mapping (with text keys) piece by piece, each small member in one C-encoder call (a
    for_each's result of 500 answers costs 500 calls, not 20,000 Python steps)."""
    if isinstance(value, list | tuple):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _member(item, limit)
        yield "]"
    elif isinstance(value, dict) and all(isinstance(key, str) for key in value):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + _escape(key[: limit + 1]) + ": "
            yield from _member(item, limit)
        yield "}"
    else:
        yield from _streamed(value, limit)


def _member(item: Any, limit: int) -> Iterator[str]:
    if _fits(item, limit):
        yield json.dumps(item, ensure_ascii=False, default=str)
    else:
        yield from _chunks(item, limit)


def _streamed(value: Any, limit: int) -> Iterator[str]:
    def escape(text: str) -> str:
        # One character past the limit is enough to know the text must be cut.
        return _escape(text[: limit + 1])

    yield from _make_iterencode({}, str, escape, None, _floatstr, ": ", ", ", False, False, False)(
        value, 0
    )


# Modules whose values are short as text: a SOAP result holds decimals and dates. Named,
# not imported: the history must not import decimal to serialise a REST answer.
_SHORT_AS_TEXT = frozenset({"decimal", "datetime", "_decimal", "_pydecimal"})


def _fits(value: Any, limit: int) -> bool:
    """True when ``value`` holds at most about ``limit`` characters of plain JSON types.

    Stops as soon as the count passes the limit, so a huge value costs little here."""
    budget = limit
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            budget -= len(item) + 2
        elif isinstance(item, dict):
            budget -= 2 + 4 * len(item)
            if budget < 0:  # before the stack grows with a huge container
                return False
            for key, inner in item.items():
                if not isinstance(key, str):
                    return False
                budget -= len(key)
                stack.append(inner)
        elif isinstance(item, list | tuple):
            budget -= 2 + 2 * len(item)
            if budget < 0:
                return False
            stack.extend(item)
        elif item is None or isinstance(item, bool | int | float):
            budget -= 24
        elif type(item).__module__ in _SHORT_AS_TEXT:  # decimals, dates (``default=str``)
            budget -= 48
        else:  # anything else may be long as text: the streaming encoder handles it
            return False
        if budget < 0:
            return False
    return True
