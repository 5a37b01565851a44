"""Origins (scheme, host, port): where a connection's credentials may go.

A connection's credentials belong to the origin of its base URL, plus the origins it
lists in ``allow_origins``. Hosts are compared as written, lower-cased: ``127.0.0.1`` and
``localhost`` are two origins, as they are for browsers.

Two parsers read every URL hookline sends: ``urllib.parse`` here, and urllib3's
``parse_url``, which requests uses to prepare the request and urllib3 to connect. They
disagree on a backslash in the host part: ``http://B\\@A/`` is host A to urllib.parse
and host B to urllib3 (and to browsers). A URL whose host part two parsers could read
differently is refused (``origin_of``), and the origin of the URL as it will be sent is
checked against the one credentials were chosen for (``sent_origin``), so that no other
disagreement can carry a credential to a host it does not belong to.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# The host part as urllib.parse cuts it (up to the first '/', '?' or '#'), read from the
# raw text: urllib.parse silently drops tabs and line breaks before it parses.
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


class BadURL(ValueError):
    """A URL that cannot be sent; the message says why, in plain words."""


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, the default port written out."""
    _refuse_ambiguity(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # 'http://[::1', a port that is not a number or too big
        raise BadURL(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadURL("not an http:// or https:// URL")
    return _origin(scheme, parts.hostname or "", port)


def sent_origin(prepared_url: str) -> str:
    """The origin urllib3 will connect to for a prepared URL (requests' own parser)."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parts = parse_url(prepared_url)
    except LocationParseError as exc:
        raise BadURL(f"not a valid URL ({exc})") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadURL("not an http:// or https:// URL")
    return _origin(scheme, (parts.host or "").strip("[]"), parts.port)


def _origin(scheme: str, host: str, port: int | None) -> str:
    host = host.lower()
    if not host:
        raise BadURL("not a valid URL (no host)")
    if not host.isascii():
        host = _idna(host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def _idna(host: str) -> str:
    """A host name as requests writes it on the wire (IDNA 2008 with UTS 46)."""
    import idna

    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except (idna.IDNAError, UnicodeError):
        raise BadURL("not a valid URL (the host name is not a valid international name)") from None


def _refuse_ambiguity(url: str) -> None:
    match = _AUTHORITY.match(url.lstrip())
    authority = match.group(1) if match else ""
    if "\\" in authority:
        raise BadURL(
            "not a valid URL (a backslash in its host part, which HTTP clients read two ways)"
        )
    if any(c.isspace() or c < " " or c == "\x7f" for c in authority):
        raise BadURL("not a valid URL (a space or control character in its host part)")


def origin_setting(url: str) -> str | None:
    """The origin of an ``allow_origins`` entry, or None when it is not one."""
    try:
        origin = origin_of(url)
    except BadURL:
        return None
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return origin
