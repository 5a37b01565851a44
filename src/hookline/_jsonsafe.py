"""JSON from untrusted sources (``--input``, webhook bodies, upstream answers), parsed
into data the rest of hookline can always handle.

Python's ``json`` accepts things that break later code far from the parse, or cost far
more memory than the text they come from:

- nesting deep enough to exhaust the stack (``RecursionError`` in whatever walks the data
  next): refused beyond ``MAX_DEPTH`` levels;
- lone UTF-16 surrogates (``"\\ud800"``) that no UTF-8 sink (stdout, SQLite) can encode:
  replaced with U+FFFD;
- integers longer than Python converts (4300 digits by default, ``sys.int_info``): a
  ``ValueError`` from deep in the parser, refused here with a plain message;
- many small values: ``[{},{},...]`` costs about 72 bytes of memory per 3 bytes of text,
  so 10 MiB of it needs half a gigabyte. The values a document may hold are bounded
  (``MAX_VALUES``) before it is parsed.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

MAX_DEPTH = 128  # nesting levels of arrays and objects; documented in docs/security.md
# Values one document may hold (objects, arrays, keys and items: counted as the '{', '['
# ',' and ':' outside strings). About 70 bytes of memory each at worst, so a document
# costs at most about 70 MiB however it is shaped; documented in docs/security.md.
MAX_VALUES = 1_000_000

_SURROGATE = re.compile("[\ud800-\udfff]")
_STRUCTURAL = (b"{", b"[", b",", b":")
_SLICE = 64 * 1024  # bytes split at a time when counting: bounds the pieces held at once


class UntrustedJSONError(ValueError):
    """The text is not JSON hookline accepts; the message says why, in plain words.

    ``verb`` is how a message about a whole document reads it: "is" (nested too deep),
    "holds" (too many values, a number too long), or None (not JSON at all)."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        super().__init__(message)
        self.verb = verb


def _clean(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _too_deep(max_depth: int) -> UntrustedJSONError:
    return UntrustedJSONError(f"nested more than {max_depth} levels deep", "is")


def sanitize(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` with lone surrogates replaced, checked to nest at most ``max_depth``
    levels. Iterative, so any depth is refused without recursion; the stack holds one
    iterator per level of the current path, not every container waiting its turn, so a
    wide document costs no memory beyond itself."""
    if isinstance(value, str):
        return _clean(value)
    if not isinstance(value, dict | list):
        return value
    stack: list[Any] = [_children(value)]
    while stack:
        for node in stack[-1]:
            if len(stack) >= max_depth:
                raise _too_deep(max_depth)
            if node:  # an empty one holds nothing to clean
                stack.append(_children(node))
                break
        else:
            stack.pop()
    return value


def _children(node: dict[str, Any] | list[Any]) -> Any:
    """The containers directly inside ``node``, yielded as its strings are cleaned."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, str):
                if not item.isascii():
                    node[i] = _clean(item)
            elif isinstance(item, dict | list):
                yield item
        return
    dirty = [k for k in node if not k.isascii() and _clean(k) != k]
    for key in dirty:
        node[_clean(key)] = node.pop(key)
    for key, item in node.items():  # replacing a value keeps the size: iteration stays valid
        if isinstance(item, str):
            if not item.isascii():
                node[key] = _clean(item)
        elif isinstance(item, dict | list):
            yield item


def _structural(data: bytes) -> int:
    return sum(data.count(c) for c in _STRUCTURAL)


def count_values(text: str | bytes) -> int:
    """How many values ``text`` holds, as ``MAX_VALUES`` counts them: its '{', '[', ','
    and ':' outside strings. Escaped backslashes and quotes are dropped first, so that the
    quotes left are the ones that open and close strings; the text is then split at them
    a slice at a time, so that a document of many short strings costs no more memory than
    one slice's pieces."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    inside = 0
    in_string = False
    for start in range(0, len(data), _SLICE):
        parts = data[start : start + _SLICE].split(b'"')
        inside += _structural(b"".join(parts[0 if in_string else 1 :: 2]))
        in_string ^= len(parts) % 2 == 0  # an odd number of quotes in the slice
    return _structural(data) - inside


def check_values(text: str | bytes, max_values: int = MAX_VALUES) -> None:
    """Raise ``UntrustedJSONError`` when ``text`` holds more than ``max_values`` values.
    Counting the four characters anywhere is a cheap upper bound (four passes in C); only
    a text over it is counted again without its strings, whose commas are no values."""
    bound = _structural(text) if isinstance(text, bytes) else sum(map(text.count, "{[,:"))
    if bound > max_values and count_values(text) > max_values:
        raise UntrustedJSONError(f"more than {max_values:,} values", "holds")


def parse_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it overflows to infinity
    (``1e999``): no JSON output, and no API, can carry what it becomes."""
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else text[:20] + "…"
        raise UntrustedJSONError(f"a number too large to be a float ({shown})", "holds")
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """Parse untrusted JSON. Raises ``UntrustedJSONError`` (a ``ValueError``) for text that
    is not JSON, holds NaN or Infinity, an integer too long to convert, more than
    ``max_values`` values, or nests deeper than ``max_depth``."""

    def no_constants(name: str) -> Any:
        raise UntrustedJSONError(f"{name} is not JSON")

    check_values(text, max_values)
    try:
        value = json.loads(text, parse_constant=no_constants, parse_float=parse_float)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except UnicodeDecodeError as exc:
        raise UntrustedJSONError(f"not UTF-8 text ({exc.reason})") from None
    except UntrustedJSONError as exc:  # from parse_constant or parse_float
        raise exc.with_traceback(None) from None
    except json.JSONDecodeError as exc:
        raise UntrustedJSONError(str(exc)) from None
    except ValueError as exc:
        # int() refuses more digits than sys.get_int_max_str_digits() (CVE-2020-10735)
        if "digits" not in str(exc):
            raise
        most = sys.get_int_max_str_digits()
        raise UntrustedJSONError(f"a number with more than {most} digits", "holds") from None
    return sanitize(value, max_depth)
