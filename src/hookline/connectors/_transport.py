"""One HTTP exchange, bounded in time and in memory.

An exchange has one deadline (connect, headers and body together), kept by a guard from
``_deadline``: when it passes, the exchange's sockets are shut down and a blocked read
returns at once.

The body is read in chunks and decompressed here, never by urllib3, with a bound on the
output of each step: a gzip bomb stops at the size cap instead of filling memory.
"""

from __future__ import annotations

import functools
import http.client
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .._jsonsafe import sanitize
from ._deadline import Guard, GuardedAdapter, guarding

__all__ = ["Answer", "Failure", "GuardedAdapter", "exchange", "format_size", "read_body"]

CHUNK = 64 * 1024


class Failure(Exception):
    """An exchange that gave no usable answer. ``kind`` is one of: invalid (the request
    cannot be sent as written), refused (never reached the server), timeout, broken,
    tls, too_large, bad_body."""

    def __init__(self, kind: str, reason: str, *, sent: bool = True) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.sent = sent


@dataclass
class Answer:
    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str
    sent_headers: dict[str, str]

    @functools.cached_property
    def text(self) -> str:  # decoded once: the record, the result and messages all read it
        encoding = requests.utils.get_encoding_from_headers(self.headers) or "utf-8"
        try:
            text = self.content.decode(encoding, "replace")
        except (LookupError, UnicodeError):  # a charset Python does not know, or a codec
            # that is no charset ('idna', 'punycode', 'undefined' fail whatever the errors)
            return self.content.decode("utf-8", "replace")
        # A charset such as unicode_escape, raw_unicode_escape or utf-7 decodes to lone
        # surrogates, which no UTF-8 sink (stdout, the history) can encode.
        return sanitize(text)


# --- one exchange --------------------------------------------------------------------


def _never_sent(exc: BaseException) -> bool:
    """True when the request surely did not reach the server (safe to retry any method)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause: BaseException | None = exc
    for _ in range(20):  # the chain is short; a bound keeps a cycle from looping
        if cause is None:
            break
        if isinstance(cause, NewConnectionError | NameResolutionError):
            return True
        cause = (
            cause.__cause__
            or cause.__context__
            or (cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None)
        )
    return False


def _failure(exc: BaseException, guard: Guard, limit: float) -> Failure:
    if guard.fired:
        return Failure("timeout", f"no complete answer within {limit:g}s (timeout)")
    if isinstance(exc, requests.ConnectTimeout):
        return Failure("refused", f"could not connect within {limit:g}s", sent=False)
    if isinstance(exc, requests.Timeout | TimeoutError):
        return Failure("timeout", f"no answer within {limit:g}s (timeout)")
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure(
            "tls", "TLS verification failed (set 'verify' to a CA bundle for a private CA)"
        )
    if _never_sent(exc):
        return Failure("refused", "the connection was refused", sent=False)
    return Failure("broken", "the connection broke")


class _Decoder:
    """Content-Encoding gzip or deflate, undone with a bound on each step's output."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """Up to ``room + 1`` bytes of output (one more than fits, to detect overflow)."""
        out = b""
        while data and len(out) <= room:
            try:
                piece = self._obj.decompress(data, room + 1 - len(out))
            except zlib.error:
                if self.encoding == "deflate" and not self._started:
                    # Some servers send raw deflate without the zlib header.
                    self._wbits = -zlib.MAX_WBITS
                    self._obj = zlib.decompressobj(self._wbits)
                    self._started = True
                    continue
                raise
            self._started = True
            out += piece
            data = self._obj.unconsumed_tail
            if self._obj.eof and self._obj.unused_data:  # another gzip member follows
                data = self._obj.unused_data
                self._obj = zlib.decompressobj(self._wbits)
        return out

    def finish(self) -> None:
        if not self._obj.eof:
            raise zlib.error("the compressed body is cut short")


def read_body(raw: Any, headers: CaseInsensitiveDict[str], limit: int, guard: Guard) -> bytes:
    """The body, decompressed, at most ``limit`` bytes; raises Failure otherwise."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        decoder = _Decoder(encoding)
    else:
        raise Failure("bad_body", f"the body is in Content-Encoding '{encoding}', which is not "
                      "supported (hookline asks for gzip or deflate)")  # fmt: skip
    declared = headers.get("content-length", "").strip()
    if decoder is None and declared.isdigit() and declared.isascii() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    parts: list[bytes] = []
    size = 0
    for chunk in raw.stream(CHUNK, decode_content=False):
        if guard.fired:
            break
        if decoder is not None:
            try:
                chunk = decoder.feed(chunk, limit - size)
            except zlib.error as exc:
                raise Failure("bad_body", f"the body is not valid {encoding} ({exc})") from None
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    if decoder is not None and not guard.fired:
        try:
            decoder.finish()
        except zlib.error as exc:
            raise Failure("bad_body", f"the body is not valid {encoding} ({exc})") from None
    return b"".join(parts)


def _too_large(limit: int, declared: int | None = None) -> Failure:
    said = f"{declared} bytes, " if declared is not None else ""
    return Failure(
        "too_large",
        f"the response body is larger than max_response_size ({said}the most is "
        f"{format_size(limit)}); raise the connection's max_response_size to accept it",
    )


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _check_head(resp: requests.Response) -> None:
    """Refuse an answer whose header block did not parse. http.client takes the end of the
    stream for the end of the headers, and the email parser puts a line without a colon,
    and all after it, in a "payload": a server that closes after ``Content-Ty`` would
    otherwise be a 200 with no headers and no body."""
    message = getattr(getattr(resp.raw, "_original_response", None), "msg", None)
    if message is None or not getattr(message, "defects", None):
        return
    rest = message.get_payload()
    if isinstance(rest, str) and not rest.endswith("\n"):
        raise Failure("broken", "the connection closed before the headers ended")
    raise Failure("broken", "the answer's headers are not valid HTTP (a line without a colon)")


def exchange(
    adapter: HTTPAdapter,
    prepared: requests.PreparedRequest,
    *,
    limit: float,
    max_size: int,
    settings: dict[str, Any],
    read_body_too: bool = True,
    leaving: Callable[[], None] | None = None,
) -> tuple[Answer, Any]:
    """Send ``prepared`` and read the answer within ``limit`` seconds in all. Returns the
    answer and the urllib3 response (for cookies); raises Failure."""
    with guarding(limit) as guard:
        resp: requests.Response | None = None
        try:
            try:
                if leaving is not None:
                    leaving()  # the rate limit's stamp, as close to the wire as we can
                resp = adapter.send(
                    prepared,
                    stream=True,
                    timeout=(limit, limit),
                    verify=settings.get("verify", True),
                    cert=settings.get("cert"),
                    proxies=settings.get("proxies") or {},
                )
                _check_head(resp)
                headers = resp.headers
                content = b""
                if read_body_too:
                    content = read_body(resp.raw, headers, max_size, guard)
            except Failure:
                raise
            except (requests.RequestException, Urllib3Error, http.client.HTTPException, OSError,
                    ValueError) as exc:  # fmt: skip
                raise _failure(exc, guard, limit) from exc
            if guard.fired:
                raise Failure("timeout", f"no complete answer within {limit:g}s (timeout)")
            answer = Answer(
                status=resp.status_code,
                reason=str(resp.reason or ""),
                headers=headers,
                content=content,
                url=str(prepared.url),
                sent_headers=dict(prepared.headers),
            )
            return answer, resp.raw
        finally:
            if resp is not None:
                resp.close()
