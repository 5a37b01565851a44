"""A hostile HTTP server on raw sockets, for the tests of the HTTP client's defences.

``HostileServer().start()`` listens on 127.0.0.1 (a free port) and serves one request per
connection. Each path maps to a *behaviour*: a function that gets the connection and the
request as the server read it, and writes whatever bytes it likes, as slowly as it likes,
or resets the connection. Nothing here is HTTP-correct on purpose: the point is to answer
as a broken or malicious upstream would (slow bodies, slow headers, resets, lies about the
length, compressed bombs, redirects to other origins, odd headers).

``.arrivals`` records every request read (time, method, path, headers, body), so a test
can count what reached the server. ``.stop()`` wakes every sleeping behaviour and joins
every thread.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Behaviour = Callable[["Conn", "Arrival"], None]
HEAD_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Arrival:
    """One request as the server read it."""

    time: float  # time.monotonic() when it was read
    method: str
    target: str  # the request target, query included
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class Conn:
    """The server's side of one connection, with helpers to answer badly."""

    sock: socket.socket
    stopping: threading.Event
    closed: bool = field(default=False)

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def trickle(self, data: bytes, every: float, step: int = 1) -> None:
        """Send ``data`` ``step`` bytes at a time, one piece every ``every`` seconds."""
        for i in range(0, len(data), step):
            if self.stopping.wait(every):
                return
            try:
                self.sock.sendall(data[i : i + step])
            except OSError:
                return

    def sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


def head(status: int | str, headers: list[tuple[str, str]] | None = None) -> bytes:
    """A status line and headers, as bytes (``status`` may be a whole odd status text)."""
    line = f"HTTP/1.1 {status}" if isinstance(status, str) else f"HTTP/1.1 {status} Whatever"
    lines = [line, *(f"{k}: {v}" for k, v in headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    length: bool = True,
) -> bytes:
    """A whole response that closes the connection (Content-Length added unless told)."""
    extra = [("Connection", "close")]
    if length:
        extra.append(("Content-Length", str(len(body))))
    return head(status, [*(headers or []), *extra]) + body


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes (a multiple of 1 MiB), gzipped: about a thousand times smaller.

    Made fast: one MiB is compressed once with a full flush (which resets the compressor,
    so the block is the same every time) and the block repeated."""
    mib = 1024 * 1024
    out = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = out.compress(bytes(mib)) + out.flush(zlib.Z_FULL_FLUSH)
    count = max(1, size // mib)
    crc = 0
    zeros = bytes(mib)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (count * mib) & 0xFFFFFFFF)
    return header + block * count + out.flush() + trailer


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def _read_request(sock: socket.socket) -> Arrival | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > HEAD_LIMIT:
            return None
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    method, target, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Arrival(time.monotonic(), method, target, headers, rest[:length])


class HostileServer:
    """Raw-socket HTTP server; ``routes`` maps a path to a behaviour."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.routes: dict[str, Behaviour] = {}
        self.arrivals: list[Arrival] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[Conn] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def route(self, path: str, behaviour: Behaviour) -> HostileServer:
        self.routes[path] = behaviour
        return self

    def canned(self, path: str, data: bytes) -> HostileServer:
        """Answer ``path`` with exactly ``data``, then close."""
        return self.route(path, lambda conn, _req: conn.send(data))

    def hits(self, path: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.path == path]

    def start(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = Conn(sock, self.stopping)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: Conn) -> None:
        try:
            conn.sock.settimeout(30)
            if self.tls is not None:
                conn.sock = self.tls.wrap_socket(conn.sock, server_side=True)
            request = _read_request(conn.sock)
            if request is None:
                return
            with self._lock:
                self.arrivals.append(request)
            behaviour = self.routes.get(request.path)
            if behaviour is None:
                conn.send(answer(404, b"no such route"))
            else:
                behaviour(conn, request)
        except OSError:
            pass
        finally:
            conn.close()
