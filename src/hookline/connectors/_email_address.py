"""Checking one e-mail address or a subject line, at check time (literal values) and at
run time (rendered templates). A newline in a header value would let an input add headers
(Bcc: somebody) to the message: it is refused, never cleaned."""

from __future__ import annotations

import re

# local@domain: printable ASCII without spaces, brackets or a second @; the domain a
# dotted name (or localhost). Stricter than RFC 5322: a valid address a server would take
# and a reader can tell apart from its display name.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)*{_LABEL}"
_ADDR = re.compile(rf"{_LOCAL}@{_DOMAIN}")
_NAMED = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>")
MAX_ADDRESS = 320  # characters: 64 for the local part, 255 for the domain, the @
MAX_SUBJECT = 998  # characters: a header line's most (RFC 5322)


def line_break(text: str) -> bool:
    return any(c in text for c in "\r\n\x0b\x0c\x85\u2028\u2029")


def address_problem(text: str) -> str | None:
    """Why ``text`` is not one usable address ('a@b.c' or 'Name <a@b.c>'), else None."""
    if line_break(text):
        return "a line break in an address is refused (it could add headers to the message)"
    if len(text) > MAX_ADDRESS:
        return f"an address is at most {MAX_ADDRESS} characters, this one has {len(text)}"
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "a control character in an address is refused"
    named = _NAMED.fullmatch(text.strip())
    addr = named.group("addr") if named else text.strip()
    if named and '"' in named.group("name").strip('"'):
        return "a display name may not hold a double quote"
    if not addr.isascii():
        return f"'{addr}' is not an ASCII address: servers without SMTPUTF8 refuse it"
    if not _ADDR.fullmatch(addr) or addr.startswith(".") or ".." in addr:
        return f"'{addr}' is not an e-mail address (expected name@example.com)"
    return None


def split(text: str) -> tuple[str, str]:
    """(display name, address) of a checked address."""
    named = _NAMED.fullmatch(text.strip())
    if named:
        return named.group("name").strip().strip('"'), named.group("addr")
    return "", text.strip()


def subject_problem(text: str) -> str | None:
    if line_break(text):
        return "a line break in the subject is refused (it could add headers to the message)"
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
        return "a control character in the subject is refused"
    if len(text) > MAX_SUBJECT:
        return f"the subject is at most {MAX_SUBJECT} characters, this one has {len(text)}"
    return None
