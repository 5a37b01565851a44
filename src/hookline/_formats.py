"""The ``format`` keywords of an ``input_schema`` that hookline enforces.

JSON Schema makes ``format`` an annotation that validators may ignore, and jsonschema
does ignore it unless given a format checker; users who write ``format: email`` expect
``not-an-email`` to be refused. These checks use the standard library only: jsonschema's
own checks for ``date-time`` and ``uri`` need packages it does not install
(rfc3339-validator, rfc3987), and its ``email`` accepts any text with an ``@``.

Each check is a regular expression without nested repetition (linear on any input) or a
standard-library parser. ``check`` warns about a ``format`` that is not in ``ENFORCED``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import cache
from typing import Any
from uuid import UUID

__all__ = ["ENFORCED", "WORDS", "format_checker", "has_format", "unenforced_formats"]

# The HTML standard's "valid e-mail address" (what a browser's type=email accepts).
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = r"\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]" + _TIME)
_TIME_ONLY = re.compile(_TIME)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# RFC 3986: a scheme, then only the characters a URI may hold; % starts an escape.
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _email(text: str) -> bool:
    return len(text) <= 254 and _EMAIL.fullmatch(text) is not None


def _date(text: str) -> bool:
    if _DATE.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _date_time(text: str) -> bool:
    if _DATE_TIME.fullmatch(text) is None:
        return False
    try:  # 3.11 reads 'Z' and any number of fraction digits
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


def _time(text: str) -> bool:
    return _TIME_ONLY.fullmatch(text) is not None and _date_time("1970-01-01T" + text)


def _hostname(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(part) for part in name.split("."))


def _uri(text: str) -> bool:
    return _SCHEME.match(text) is not None and _URI_CHARS.fullmatch(text) is not None


def _uri_reference(text: str) -> bool:
    return _URI_CHARS.fullmatch(text) is not None


def _uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None and bool(UUID(text))


def _ip(kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            kind(text)
        except ValueError:
            return False
        return "%" not in text  # a scoped IPv6 address names a host's interface

    return check


_CHECKS: dict[str, Callable[[str], bool]] = {
    "email": _email,
    "date": _date,
    "date-time": _date_time,
    "time": _time,
    "hostname": _hostname,
    "uri": _uri,
    "uri-reference": _uri_reference,
    "uuid": _uuid,
    "ipv4": _ip(ipaddress.IPv4Address),
    "ipv6": _ip(ipaddress.IPv6Address),
}
ENFORCED = tuple(_CHECKS)
"""The formats hookline checks in an input; any other ``format`` is only an annotation."""

WORDS = {
    "email": "email address",
    "date": "date (YYYY-MM-DD, e.g. 2026-01-31)",
    "date-time": "date and time (RFC 3339, e.g. 2026-01-31T09:30:00Z)",
    "time": "time (RFC 3339, e.g. 09:30:00Z)",
    "hostname": "host name",
    "uri": "URI (with a scheme, e.g. https://example.com/a)",
    "uri-reference": "URI reference",
    "uuid": "UUID (e.g. 123e4567-e89b-12d3-a456-426614174000)",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
}
"""How each format is named in "is not a valid ..." messages."""


@cache
def format_checker() -> Any:
    """A jsonschema FormatChecker of the ENFORCED formats (built once per process)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, check in _CHECKS.items():
        checker.checks(name)(_strings_only(check))
    return checker


def _strings_only(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # A format applies to strings; a number under `format: date` is the type's business.
    return lambda value: not isinstance(value, str) or check(value)


def has_format(schema: object) -> bool:
    """Whether the schema uses ``format`` anywhere: only then is the checker attached."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


# Keys whose values are data, not schemas: a "format" in them is not the keyword.
_DATA_KEYS = frozenset({"format", "enum", "const", "default", "examples"})


def unenforced_formats(schema: object) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path of the ``format`` key, its value) for each format hookline does not check."""
    stack: list[tuple[object, tuple[str | int, ...]]] = [(schema, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            value = node.get("format")
            if isinstance(value, str) and value not in _CHECKS and path[-1:] != ("properties",):
                yield (*path, "format"), value
            stack.extend((sub, (*path, key)) for key, sub in node.items() if key not in _DATA_KEYS)
        elif isinstance(node, list):
            stack.extend((sub, (*path, i)) for i, sub in enumerate(node))
