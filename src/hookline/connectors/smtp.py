"""The ``smtp`` connection: where ``email`` steps send their messages.

Only the schema fragment and the load-time checks live here; the sending is in
``_smtp_send`` (smtplib is imported by runs that send mail, never by a REST run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._schema_common import TIMEOUT, VERIFY
from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._common import DEFAULT_TIMEOUT, beside

if TYPE_CHECKING:
    from .._plan import Builder, Scope

TLS_MODES = ("starttls", "implicit", "none")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}

CONNECTION_SCHEMA: Schema = prop(
    obj(
        {
            "host": prop(
                {"type": "string", "minLength": 1},
                "The mail server's host name; may hold `${{ }}`.",
                "smtp.example.com",
            ),
            "port": prop(
                {"type": "integer", "minimum": 1, "maximum": 65535},
                "The server's port (default 587 with starttls, 465 with implicit, 25 with none).",
                587,
            ),
            "tls": prop(
                {"enum": list(TLS_MODES)},
                "starttls (default): upgrade a plain connection; implicit: TLS from the "
                "first byte; none: no encryption, only to 127.0.0.1 or localhost unless "
                "`allow_plaintext` says otherwise.",
                "starttls",
                "implicit",
            ),
            "allow_plaintext": prop(
                {"type": "boolean"},
                "Allow `tls: none` to a host other than 127.0.0.1 or localhost (default "
                "false): the message and the password then cross the network in clear.",
                True,
            ),
            "username": prop(
                {"type": "string", "minLength": 1},
                "The user to log in as (AUTH); may hold `${{ }}`.",
                "alerts@example.com",
            ),
            "password": prop(
                {"type": "string", "minLength": 1},
                "The password, from a secret: `${{ secrets.NAME }}`.",
                "${{ secrets.SMTP_PASSWORD }}",
            ),
            "timeout": TIMEOUT,
            "verify": VERIFY,
        },
        required=["host"],
    ),
    "A mail server that `email` steps send through (SMTP).",
    {
        "host": "smtp.example.com",
        "username": "alerts@example.com",
        "password": "${{ secrets.SMTP_PASSWORD }}",
    },
)


@dataclass(frozen=True)
class SmtpConnectionSpec:
    host: Template
    port: int
    tls: str
    username: Template | None
    password: Template | None
    timeout: float
    verify: bool | str
    allow_plaintext: bool


def is_literal(value: Any) -> bool:
    """True when a written value holds no template."""
    return isinstance(value, str) and "${{" not in value


def plaintext_refused(host: str) -> str:
    return (
        f"tls: none sends the message and the password in clear: it is allowed only to "
        f"127.0.0.1 or localhost, not to '{host}' (set allow_plaintext: true to accept it)"
    )


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> SmtpConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    tls = raw.get("tls", "starttls")
    host = raw.get("host")
    allow_plaintext = raw.get("allow_plaintext") is True
    if tls == "none" and not allow_plaintext and is_literal(host) and host not in LOCAL_HOSTS:
        builder.error((*path, "tls"), plaintext_refused(str(host)))
    password = raw.get("password")
    if isinstance(password, str) and "${{" not in password:
        # A password written in the file would be in git and unmasked in every log.
        builder.error(
            (*path, "password"),
            "the password must come from a secret: write '${{ secrets.NAME }}' and list "
            "NAME under secrets:",
        )
    verify = raw.get("verify", True)
    if isinstance(verify, str):
        written, verify = verify, beside(builder, verify)
        if not Path(verify).is_file():
            builder.error((*path, "verify"), f"CA bundle file '{written}' not found (paths "
                          "are relative to the pipeline file)")  # fmt: skip
    return SmtpConnectionSpec(
        host=builder.template((*path, "host"), scope),
        port=int(raw.get("port", DEFAULT_PORTS.get(tls, 587))),
        tls=tls if tls in TLS_MODES else "starttls",
        username=builder.maybe_template((*path, "username"), scope),
        password=builder.maybe_template((*path, "password"), scope),
        timeout=builder.duration((*path, "timeout")) or DEFAULT_TIMEOUT,
        verify=verify if isinstance(verify, bool | str) else True,
        allow_plaintext=allow_plaintext,
    )
