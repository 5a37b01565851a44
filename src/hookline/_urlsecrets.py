"""The passwords a server's URL may hold, and the URL with them hidden.

A password reaches a URL in more places than its userinfo: libpq and redis-py both read
``?password=`` (libpq also ``sslpassword``), and libpq takes a keyword connection string
(``host=db password=s3cret``) wherever it takes a URL. Whatever prints a URL prints
``masked(url)``; a log redactor learns ``passwords(url)``; a usage error that may quote
what the user typed goes through ``mask_in_text``.

Plain standard library: the command line imports this module without the distributed
mode's packages.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

__all__ = ["SECRET_KEYS", "mask_in_text", "masked", "passwords", "query_secrets"]

#: Query parameters and keyword-string keys whose value is a password (any case).
SECRET_KEYS = frozenset({"password", "passwd", "sslpassword"})

MASK = "***"

# Schemes whose lone user (``postgresql://app@db``) is a user name, not a password: the
# redactor does not learn it (it would hide the word wherever a log line says it).
_USER_NAMED = frozenset({"postgresql", "postgres", "amqp", "amqps", "pyamqp"})

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)
# libpq's keyword form: key = value, the value bare or in single quotes (\' and \\ escaped).
_KEYWORD = re.compile(
    r"(?P<key>\b[A-Za-z_]+)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s']*)", re.DOTALL
)
# A URL inside free text (an argparse message): up to a space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]*")


def masked(url: str | None) -> str:
    """``url`` with every password replaced by ``***``: the userinfo's
    (``redis://user:***@host:6379/0``; a Redis URL's lone user too), the query's
    ``password``, ``passwd`` and ``sslpassword``, a keyword string's ``password=``."""
    if not url:
        return ""
    found = _URL.fullmatch(url)
    if found is None:
        return _mask_keywords(url)
    scheme, rest = found["scheme"], found["rest"]
    userinfo, at, after = _userinfo(rest)
    hostpath, query, fragment = _split(after)
    if at:
        user, sep, _password = userinfo.partition(":")
        # A lone user is hidden too: some Redis clients take it for the password.
        userinfo = f"{user}:{MASK}" if sep and user else MASK
        hostpath = f"{userinfo}@{hostpath}"
    text = f"{scheme}://{hostpath}"
    if query is not None:
        text += "?" + _mask_query(query)
    if fragment is not None:
        text += "#" + fragment
    return text


def passwords(url: str | None) -> list[str]:
    """Every password ``url`` holds, as written and decoded (what a redactor must hide)."""
    if not url:
        return []
    found: list[str] = []
    match = _URL.fullmatch(url)
    if match is None:
        for key in _KEYWORD.finditer(url):
            if key["key"].lower() in SECRET_KEYS:
                value = key["value"]
                if value.startswith("'"):
                    value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix("'"))
                found.append(value)
        return _forms(found)
    userinfo, at, after = _userinfo(match["rest"])
    _hostpath, query, _fragment = _split(after)
    if at:
        user, sep, password = userinfo.partition(":")
        if sep:
            found.append(password)
        elif match["scheme"].lower() not in _USER_NAMED:
            found.append(user)  # a Redis URL's lone user is its password
    found += query_secrets(query or "")
    return _forms(found)


def query_secrets(query: str) -> list[str]:
    """The values of the password parameters of a URL's query, as written."""
    values = []
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and unquote_plus(name).strip().lower() in SECRET_KEYS:
            values.append(value)
    return values


def mask_in_text(text: str) -> str:
    """``text`` (a message that may quote what was typed) with the URLs and keyword
    passwords in it masked."""
    pieces, end = [], 0
    for url in _URL_IN_TEXT.finditer(text):
        pieces += [_mask_keywords(text[end : url.start()]), masked(url[0])]
        end = url.end()
    return "".join([*pieces, _mask_keywords(text[end:])])


def _userinfo(rest: str) -> tuple[str, str, str]:
    """What follows ``scheme://`` as (userinfo, "@" or "", the rest after it).

    The userinfo ends at the last ``@`` before the query, so a password with an
    unescaped ``/`` is still hidden whole (urlsplit cuts the host at the ``/`` and would
    leave the password in the path). With no ``@`` there but one further on, the
    password may hold an unescaped ``?`` or ``#``: the last ``@`` of all ends it (a query
    that merely holds an ``@`` is then hidden too: more hidden, never less)."""
    before_query = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" in before_query:
        userinfo, at, after = before_query.rpartition("@")
        return userinfo, at, after + rest[len(before_query) :]
    if "@" in rest:
        return rest.rpartition("@")
    return "", "", rest


def _split(after: str) -> tuple[str, str | None, str | None]:
    """The host and path, the query (None: no ``?``), the fragment (None: no ``#``)."""
    head, hash_, fragment = after.partition("#")
    hostpath, qmark, query = head.partition("?")
    return hostpath, (query if qmark else None), (fragment if hash_ else None)


def _mask_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        name, eq, _value = piece.partition("=")
        if eq and unquote_plus(name).strip().lower() in SECRET_KEYS:
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def _mask_keywords(text: str) -> str:
    def hide(match: re.Match[str]) -> str:
        if match["key"].lower() not in SECRET_KEYS:
            return match[0]
        return f"{match['key']}{match['eq']}{MASK}"

    return _KEYWORD.sub(hide, text)


def _forms(values: list[str]) -> list[str]:
    forms: list[str] = []
    for value in values:
        for form in (value, unquote(value), unquote_plus(value)):
            if form and form not in forms:
                forms.append(form)
    return forms
