"""What the environment tells requests about a URL, worked out once per process.

requests reads its proxy variables (``http_proxy``, ``HTTPS_PROXY``, ``all_proxy``,
``no_proxy``, ...) by walking the whole of ``os.environ``: four passes per request (two
for the ``no_proxy`` check, two for the proxies), about 100 us of CPU with 35 variables,
a tenth of a warm one-GET run. The answer depends only on the URL's host and port and on
the environment, so it is kept here per scheme, host and port, with the CA bundle that
``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` names.

Everything kept is forgotten as soon as the environment changes: each look-up compares
the environment's raw mapping with the copy it was worked out from (one dict comparison
done in C, under a microsecond), so a variable set by the process (or a test) is seen by
the next request, as requests would see it. The values are computed by requests' own
functions, so per-URL ``no_proxy`` matching, the CGI rule (``HTTP_PROXY`` ignored when
``REQUEST_METHOD`` is set) and lower case beating upper case are requests' own.

Where urllib reads the proxies from the system rather than the environment (macOS and
Windows), the system's settings can change while the environment stays the same:
nothing is kept there and every request asks requests, as before.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

from requests import utils as _requests_utils

# Origins remembered per environment; past it the table starts again empty (a run that
# calls thousands of hosts pays requests' price for each, memory stays bounded).
MAX_ORIGINS = 256


def _raw_environment() -> dict[Any, Any] | None:
    """The mapping ``os.environ`` keeps its variables in (bytes on POSIX), or None.

    ``os.environ`` offers no cheap way to tell it changed: copying or walking it through
    its public interface decodes every name and value, the very cost being saved. Its
    underlying dict (``_data``, there since Python 3.2) can be compared in C."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else None


def _proxies_from_environment_only() -> bool:
    import urllib.request

    # requests takes urllib's functions at its import; on Linux they read the environment
    return (
        getattr(_requests_utils, "getproxies", None) is urllib.request.getproxies_environment
        # (proxy_bypass_environment is missing from typeshed's urllib.request)
        and getattr(_requests_utils, "proxy_bypass", None)
        is getattr(urllib.request, "proxy_bypass_environment", False)
    )


class _Snapshot:
    """The settings worked out from one state of the environment."""

    __slots__ = ("ca_bundle", "environ", "proxies")

    def __init__(self, environ: dict[Any, Any]) -> None:
        self.environ = dict(environ)
        # As Session.merge_environment_settings reads them: the first one set and not empty.
        self.ca_bundle: str | None = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        )
        self.proxies: dict[tuple[str, str], dict[str, str]] = {}


_CACHEABLE = _proxies_from_environment_only() and _raw_environment() is not None
_current: _Snapshot | None = None
_lock = threading.Lock()


def _snapshot() -> _Snapshot | None:
    global _current
    data = _raw_environment()
    if data is None:
        return None
    current = _current
    if current is not None and current.environ == data:
        return current
    with _lock:  # one thread copies the new environment; the others use its copy
        current = _current
        if current is None or current.environ != data:
            current = _current = _Snapshot(data)
        return current


def environment_settings(url: str) -> tuple[dict[str, str], str | None]:
    """The proxies requests takes from the environment for ``url`` (a new dict the caller
    may change) and the CA bundle the environment names (or None), exactly as
    ``requests.Session.merge_environment_settings`` works them out for a session that
    trusts the environment and was given no proxies."""
    snapshot = _snapshot() if _CACHEABLE else None
    if snapshot is None:
        return (
            _requests_utils.get_environ_proxies(url, no_proxy=None),
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None,
        )
    parts = urlsplit(url)
    # The user and password of a URL change nothing here (requests matches the host and
    # port): leaving them out of the key keeps them out of this table too.
    key = (parts.scheme, parts.netloc.rpartition("@")[2])
    proxies = snapshot.proxies.get(key)
    if proxies is None:
        proxies = _requests_utils.get_environ_proxies(url, no_proxy=None)
        if len(snapshot.proxies) >= MAX_ORIGINS:
            snapshot.proxies.clear()
        snapshot.proxies[key] = proxies
    return dict(proxies), snapshot.ca_bundle
