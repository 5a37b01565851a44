"""Real SMTP servers on 127.0.0.1 for the email tests: aiosmtpd with STARTTLS or implicit
TLS and AUTH (a self-signed certificate made with the openssl binary), and a raw-socket
server that drops the connection once it has read the message."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "bot", "s3cret-Smtp-Pass"


def make_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Handler:
    """Keeps every message; answers DATA from ``replies`` (then 250)."""

    replies: list[str] = field(default_factory=list)
    received: list[tuple[str, list[str], Message]] = field(default_factory=list)
    data_calls: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        if self.replies:
            return self.replies.pop(0)
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(raw)))
        return "250 2.0.0 queued as 42"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


@contextmanager
def smtp_server(
    cert: Path, key: str | Path, *, implicit: bool = False
) -> Iterator[tuple[int, Handler]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    handler = Handler()
    port = free_port()
    tls: dict[str, Any] = (
        {"ssl_context": ctx} if implicit else {"tls_context": ctx, "require_starttls": True}
    )
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=_auth,
        # aiosmtpd sees implicit TLS as no TLS and would hide AUTH: the socket is TLS.
        auth_require_tls=not implicit, auth_exclude_mechanism=["LOGIN"], **tls,
    )  # fmt: skip
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@contextmanager
def dropping_server() -> Iterator[tuple[int, list[bytes]]]:
    """Plain SMTP that reads the whole message after DATA, then closes without a reply."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                f = conn.makefile("rb")
                conn.sendall(b"220 drop ESMTP\r\n")
                while line := f.readline():
                    verb = line[:4].upper()
                    if verb == b"DATA":
                        conn.sendall(b"354 go on\r\n")
                        body = b""
                        while (chunk := f.readline()) and chunk != b".\r\n":
                            body += chunk
                        got.append(body)
                        f.close()  # the file holds the socket open too
                        break  # gone before the reply
                    conn.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, got
    finally:
        listener.close()
