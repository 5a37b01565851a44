"""JSON from untrusted sources (``--input``, webhook bodies, upstream answers), parsed
into data the rest of hookline can always handle.

Python's ``json`` accepts two things that break later code far from the parse: nesting
deep enough to exhaust the stack (``RecursionError`` in whatever walks the data next) and
lone UTF-16 surrogates (``"\\ud800"``) that no UTF-8 sink (stdout, SQLite) can encode.
``loads`` refuses the first with a clear message and replaces the second with U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 128  # nesting levels of arrays and objects; documented in docs/security.md

_SURROGATE = re.compile("[\ud800-\udfff]")


class UntrustedJSONError(ValueError):
    """The text is not JSON hookline accepts; the message says why, in plain words."""


def _clean(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def sanitize(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` with lone surrogates replaced, checked to nest at most ``max_depth``
    levels; iterative, so any depth is refused without recursion."""
    if isinstance(value, str):
        return _clean(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise UntrustedJSONError(f"nested more than {max_depth} levels deep")
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = _clean(item)
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        else:
            dirty = [k for k in node if not k.isascii() and _clean(k) != k]
            for key in dirty:
                node[_clean(key)] = node.pop(key)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = _clean(item)
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
    return root[0]


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON. Raises ``UntrustedJSONError`` (a ``ValueError``) for text that
    is not JSON, holds NaN or Infinity, or nests deeper than ``max_depth``."""

    def no_constants(name: str) -> Any:
        raise UntrustedJSONError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise UntrustedJSONError(f"nested more than {max_depth} levels deep") from None
    except UnicodeDecodeError as exc:
        raise UntrustedJSONError(f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise UntrustedJSONError(str(exc)) from None
    return sanitize(value, max_depth)
