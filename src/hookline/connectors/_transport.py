"""One HTTP exchange, bounded in time and in memory.

requests' ``timeout`` bounds each socket read, not the exchange: a server that sends one
byte a second, or trickles its headers, holds a caller for as long as it likes. Here an
exchange has one deadline (connect, headers and body together). A watchdog thread shuts
down the sockets of an exchange whose deadline passed, so that a read blocked in the
standard library returns at once; the sockets are reached through connection classes
registered on the adapter, which hand each socket to the exchange running on their
thread.

The body is read in chunks and decompressed here, never by urllib3, with a bound on the
output of each step: a gzip bomb stops at the size cap instead of filling memory.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import http.client
import itertools
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NameResolutionError, NewConnectionError

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
            return self.content.decode(encoding, "replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", "replace")


# --- the watchdog ------------------------------------------------------------------


class Guard:
    """The deadline of one exchange and the sockets it uses."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._done = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def adopt(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if not self.fired:
                return
        _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the whole process: fires guards whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: Guard) -> None:
        with self._cond:
            earliest = not self._heap or guard.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (guard.deadline, next(self._seq), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hookline-deadlines")
                self._thread.daemon = True
                self._thread.start()
            if earliest:  # waking the thread for a later deadline would only cost the GIL
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, guard = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            guard.fire()


_WATCHDOG = _Watchdog()
_current = threading.local()


def _adopt(sock: socket.socket | None) -> None:
    guard: Guard | None = getattr(_current, "guard", None)
    if guard is not None:
        guard.adopt(sock)


class _Guarded:
    """Hands each socket to the exchange running on this thread, and closes a response
    that urllib3 refused after http.client made it (a Content-Length of '1, 2'): left to
    the garbage collector, its socket would stay open until then."""

    sock: socket.socket | None
    response_class: Any

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _adopt(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _adopt(self.sock)  # a pooled connection made for an earlier exchange
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        made: list[http.client.HTTPResponse] = []
        make = self.response_class

        def tracked(*args: Any, **kwargs: Any) -> http.client.HTTPResponse:
            made.append(make(*args, **kwargs))
            return made[-1]

        self.response_class = tracked
        try:
            return super().getresponse()  # type: ignore[misc]
        except BaseException:
            for response in made:
                response.close()
            raise
        finally:
            self.response_class = make


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connections hand their sockets to the exchange's guard."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS  # type: ignore[assignment]

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


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
    guard = Guard(time.monotonic() + limit)
    _WATCHDOG.watch(guard)
    _current.guard = guard
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
        _current.guard = None
        guard.finish()
        if resp is not None:
            resp.close()
