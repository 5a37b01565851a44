"""Origins (scheme, host, port): where a connection's credentials may go.

A connection's credentials belong to the origin of its base URL, plus the origins it
lists in ``allow_origins``. Hosts are compared as written, lower-cased: ``127.0.0.1`` and
``localhost`` are two origins, as they are for browsers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadURL(ValueError):
    """A URL that cannot be sent; the message says why, in plain words."""


def origin_of(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, the default port written out."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # 'http://[::1', a port that is not a number or too big
        raise BadURL(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadURL("not an http:// or https:// URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise BadURL("not a valid URL (no host)")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


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
