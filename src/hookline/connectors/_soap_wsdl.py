"""Reading a WSDL for the SOAP connector: from a file beside the pipeline or from a URL,
with the limits every download has, and a cache in the hookline home.

A WSDL by URL (and every XSD it imports) is fetched through ``HttpClient``, so the
connection's size cap, deadline, TLS settings and origin rules apply to it as they do to
calls; zeep's own ``SqliteCache`` keeps it for ``wsdl_cache`` (24 hours by default), so
that cron runs do not fetch it every time; so are XSDs that a local WSDL imports by
URL. Parsing forbids DTDs and entity declarations.
zeep is imported by the functions here, never when the module loads.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

if TYPE_CHECKING:
    from zeep.wsdl import Document

CACHE_LIFETIME = 24 * 3600.0  # default of the connection's `wsdl_cache`
CACHE_FILE = "wsdl-cache.sqlite3"


class WsdlError(Exception):
    """The WSDL could not be read; the message is one plain line."""


class NeedsNetwork(WsdlError):
    """A local WSDL imports a document by URL, and no download was allowed."""


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def settings(*, replies: bool) -> Any:
    """zeep settings for hostile XML. Replies may not make zeep fetch anything; a WSDL
    may import XSDs (fetched through our transport, with its limits)."""
    from zeep import Settings

    return Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=replies,
    )


# --- the transport: every fetch goes through a caller-given function -----------------


def _transport(fetch: Any, cache: Any, local_ok: bool) -> Any:
    """zeep's transport, with downloads sent through ``fetch`` (hookline's HTTP client)
    and kept in ``cache()`` (made on the first download: most runs never need it), and
    local files refused when the WSDL itself came from the network."""
    from zeep.transports import Transport

    class _Transport(Transport):  # type: ignore[misc]  # zeep has no type hints
        def load(self, url: str) -> bytes:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https"):
                if fetch is None:
                    raise NeedsNetwork(f"the WSDL imports {url}, which is not fetched here")
                store = cache() if cache is not None else None
                found = store.get(url) if store is not None else None
                if found:
                    return bytes(found)
                content = bytes(fetch(url))
                if store is not None:
                    store.add(url, content)
                return content
            if not local_ok:
                raise WsdlError(f"the WSDL refers to a local file ({url}); refused")
            path = url2pathname(parts.path) if parts.scheme == "file" else url
            with open(os.path.expanduser(path), "rb") as fh:  # files are never cached
                return fh.read()

    return _Transport()


def _cache(home: Path, lifetime: float) -> Any:
    """zeep's SqliteCache in the hookline home, keyed by a hash of the URL (a URL may
    carry a key in its query, and the cache file must not keep it)."""
    from zeep.cache import SqliteCache

    class _HashedCache(SqliteCache):  # type: ignore[misc]
        def add(self, url: str, content: bytes) -> None:
            with warnings.catch_warnings():
                # sqlite3's default datetime adapter, which zeep uses, is deprecated in 3.12
                warnings.simplefilter("ignore", DeprecationWarning)
                super().add(_key(url), content)

        def get(self, url: str) -> bytes | None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                found: bytes | None = super().get(_key(url))
                return found

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / CACHE_FILE
    if not path.exists():
        path.touch(mode=0o600)
    return _HashedCache(path=str(path), timeout=int(lifetime))


def _key(url: str) -> str:
    return "sha256:" + hashlib.sha256(url.encode("utf-8")).hexdigest()


# --- loading -------------------------------------------------------------------------

_LOCAL: dict[tuple[str, int, int], Document] = {}  # parsed local WSDLs, by file state


def load(
    source: str,
    *,
    fetch: Any = None,
    home: Path | None = None,
    lifetime: float = CACHE_LIFETIME,
) -> Document:
    """The parsed WSDL at ``source`` (a file path or an http(s) URL). ``fetch(url)``
    returns the bytes of a URL; without it, a WSDL that needs the network fails."""
    from zeep.exceptions import Error as ZeepError
    from zeep.wsdl import Document

    remote = is_url(source)
    key: tuple[str, int, int] | None = None
    if not remote:
        try:
            stat = os.stat(source)
        except OSError as exc:
            raise WsdlError(f"cannot read WSDL file: {exc.strerror}") from None
        key = (os.path.abspath(source), stat.st_mtime_ns, stat.st_size)
        if key in _LOCAL:  # the plan builder parsed it already in this process
            return _LOCAL[key]
    cache = None
    if home is not None and lifetime > 0:
        made: list[Any] = []

        def cache() -> Any:
            if not made:
                made.append(_cache(home, lifetime))
            return made[0]

    transport = _transport(fetch, cache, local_ok=not remote)
    try:
        with warnings.catch_warnings():
            # zeep warns (and goes on) when a message part names no valid type: such an
            # operation cannot be called, so the WSDL is reported instead of half-loaded.
            warnings.simplefilter("error", UserWarning)
            document = Document(source, transport, settings=settings(replies=False))
    except WsdlError:
        raise
    except UserWarning as exc:
        raise WsdlError(f"the WSDL is not valid: {_first_line(exc)}") from None
    except RecursionError:
        raise WsdlError("the WSDL or an XSD it imports is nested too deeply") from None
    except (
        ZeepError,
        OSError,
        ValueError,
        LookupError,
        AttributeError,
        TypeError,
        NotImplementedError,
        SyntaxError,  # lxml's parse errors
    ) as exc:
        # zeep raises all of these on a malformed WSDL, and a WSDL by URL is untrusted.
        raise WsdlError(_first_line(exc)) from exc
    if key is not None:
        _LOCAL[key] = document
    return document


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --- what a WSDL declares, for the checks at build time ----------------------------


@dataclass(frozen=True)
class Argument:
    name: str
    required: bool


@dataclass(frozen=True)
class PortInfo:
    operations: dict[str, tuple[Argument, ...] | None]  # None: arguments not checkable


def ports(document: Document) -> dict[str, dict[str, PortInfo]]:
    """service name → port name → what its binding offers."""
    out: dict[str, dict[str, PortInfo]] = {}
    for service_name, service in document.services.items():
        out[service_name] = {
            port_name: PortInfo(
                {name: _arguments(op) for name, op in port.binding._operations.items()}
            )
            for port_name, port in service.ports.items()
        }
    return out


def _arguments(operation: Any) -> tuple[Argument, ...] | None:
    """The named arguments of an operation's input, when zeep can tell them."""
    body = getattr(getattr(operation, "input", None), "body", None)
    elements = getattr(getattr(body, "type", None), "elements", None)
    if not isinstance(elements, list):
        return None
    args = []
    for name, element in elements:
        if name.startswith("_value_"):
            return None  # xsd:choice or xsd:any: the names are not fixed
        required = getattr(element, "min_occurs", 0) >= 1 and not getattr(
            element, "nillable", False
        )
        args.append(Argument(name, required))
    return tuple(args)


def pick_port(
    declared: dict[str, dict[str, PortInfo]], service: str | None, port: str | None
) -> tuple[str, str] | None:
    """The service and port zeep binds to: the ones named, else the first ones."""
    if service is None:
        if port is not None:
            for name, found in declared.items():
                if port in found:
                    return name, port
            return None
        service = next(iter(declared), None)
    if service is None or service not in declared:
        return None
    names = list(declared[service])
    if port is None:
        return (service, names[0]) if names else None
    return (service, port) if port in names else None


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")


def as_bytes(text: str, content_type: str) -> bytes:
    """The bytes of an XML body the HTTP client decoded to text. requests decodes with the
    Content-Type charset, else ISO-8859-1 for text/*, else a guess: encode back with the
    charset when there is one (lossless), and declare UTF-8 otherwise."""
    match = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
    if match is None and content_type.lower().startswith("text/"):
        charset: str | None = "iso-8859-1"
    else:
        charset = match.group(1).strip("\"'") if match else None
    if charset:
        try:
            return text.encode(charset)
        except (LookupError, UnicodeEncodeError):
            pass
    data = text.encode("utf-8")
    return _DECLARATION.sub(b'<?xml version="1.0" encoding="utf-8"?>', data, count=1)
