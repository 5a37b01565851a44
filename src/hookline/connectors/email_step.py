"""The ``email`` step: one message sent through an ``smtp`` connection.

Literal addresses, subjects and file names are checked when the file is checked; rendered
templates are checked again before anything is sent. The message is built and sent in
``_email_message`` and ``_smtp_send``, imported only by runs that send mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._email_address import address_problem, line_break, subject_problem
from .smtp import is_literal

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime

ADDRESS_FIELDS = ("to", "cc", "bcc", "reply_to")

_ADDRESSES: Schema = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string"}},
    ]
}

_ATTACHMENT: Schema = obj(
    {
        "name": prop(
            {"type": "string", "minLength": 1, "maxLength": 200},
            "The file name the reader sees; may hold `${{ }}`.",
            "failed-orders.json",
        ),
        "content": prop(
            {},
            "What the file holds: text as it is, any other value as JSON; may hold `${{ }}`.",
            "${{ steps.fetch.body }}",
        ),
    },
    required=["name", "content"],
)

STEP_SCHEMA: Schema = prop(
    {
        **obj(
            {
                "connection": prop(
                    {"type": "string", "minLength": 1}, "Name of an `smtp` connection.", "mail"
                ),
                "from": prop(
                    {"type": "string", "minLength": 1},
                    "The sender: 'name@example.com' or 'Name <name@example.com>'.",
                    "Hookline <alerts@example.com>",
                ),
                "to": prop(_ADDRESSES, "One address or a list (at most 100).", "ops@example.com"),
                "cc": prop(_ADDRESSES, "Copies: one address or a list.", ["lead@example.com"]),
                "bcc": prop(
                    _ADDRESSES,
                    "Hidden copies: sent to, never written in the message's headers.",
                    "audit@example.com",
                ),
                "reply_to": prop(_ADDRESSES, "Where replies go.", "support@example.com"),
                "subject": prop(
                    {"type": "string"},
                    "The subject; may hold `${{ }}` (a line break in it is refused).",
                    "Run ${{ run.id }} failed",
                ),
                "text": prop({"type": "string"}, "The plain-text body.", "${{ error.message }}"),
                "html": prop(
                    {"type": "string"},
                    "The HTML body (sent beside `text` when both are given).",
                    "<p>${{ error.message }}</p>",
                ),
                "attachments": prop(
                    {"type": "array", "maxItems": 20, "items": _ATTACHMENT},
                    "Files attached from step results (at most 20, 10 MiB in all).",
                    [{"name": "orders.json", "content": "${{ steps.fetch.body }}"}],
                ),
            },
            required=["connection", "from", "to", "subject"],
        ),
        "anyOf": [{"required": ["text"]}, {"required": ["html"]}],
    },
    "Send one e-mail through an `smtp` connection (give `text`, `html` or both). The "
    "result is {accepted, message_id, recipients, refused, reply}.",
    {
        "connection": "mail",
        "from": "alerts@example.com",
        "to": "ops@example.com",
        "subject": "Run failed",
        "text": "${{ error.message }}",
    },
)

# The step applies `retry` itself: 4xx replies before the message was accepted only.
HANDLES_RETRY = True


@dataclass(frozen=True)
class EmailSpec:
    connection: str | None
    sender: Template
    to: Template
    cc: Template | None
    bcc: Template | None
    reply_to: Template | None
    subject: Template
    text: Template | None
    html: Template | None
    attachments: tuple[tuple[Template, Template], ...]


def _check_addresses(raw: Any, builder: Builder, path: tuple[Any, ...]) -> None:
    items = [(path, raw)] if isinstance(raw, str) else [
        ((*path, i), v) for i, v in enumerate(raw if isinstance(raw, list) else [])
    ]  # fmt: skip
    for where, value in items:
        if is_literal(value):
            problem = address_problem(str(value))
            if problem:
                builder.error(where, problem)


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> EmailSpec | None:
    if not isinstance(raw, dict):
        return None
    connection = _connection(builder, (*path, "connection"))
    _check_addresses(raw.get("from"), builder, (*path, "from"))
    if isinstance(raw.get("from"), list):
        builder.error((*path, "from"), "from: is one address")
    for key in ADDRESS_FIELDS:
        _check_addresses(raw.get(key), builder, (*path, key))
    subject = raw.get("subject")
    if is_literal(subject):
        problem = subject_problem(str(subject))
        if problem:
            builder.error((*path, "subject"), problem)
    for i, item in enumerate(raw.get("attachments") or []):
        name = item.get("name") if isinstance(item, dict) else None
        if is_literal(name):
            problem = file_name_problem(str(name))
            if problem:
                builder.error((*path, "attachments", i, "name"), problem)

    def optional(key: str) -> Template | None:
        return builder.maybe_template((*path, key), scope)

    attachments = tuple(
        (
            builder.template((*path, "attachments", i, "name"), scope),
            builder.template((*path, "attachments", i, "content"), scope),
        )
        for i, item in enumerate(raw.get("attachments") or [])
        if isinstance(item, dict)
    )
    return EmailSpec(
        connection=connection,
        sender=builder.template((*path, "from"), scope),
        to=builder.template((*path, "to"), scope),
        cc=optional("cc"),
        bcc=optional("bcc"),
        reply_to=optional("reply_to"),
        subject=builder.template((*path, "subject"), scope),
        text=optional("text"),
        html=optional("html"),
        attachments=attachments,
    )


def _connection(builder: Builder, path: tuple[Any, ...]) -> str | None:
    # connection_ref would say "a smtp step needs a smtp connection": the step is email.
    name = builder.get(path)
    found = builder.get(("connections", name)) if isinstance(name, str) else None
    if isinstance(found, dict) and len(found) == 1 and "smtp" not in found:
        builder.error(path, f"connection '{name}' is a {next(iter(found))} connection; an "
                      "email step needs an smtp connection")  # fmt: skip
        return None
    return builder.connection_ref(path, "smtp")


def file_name_problem(name: str) -> str | None:
    if line_break(name) or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a control character or line break in an attachment's name is refused"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"'{name}' is not a file name: it may not hold / or \\"
    return None


def run(spec: EmailSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    from ._email_message import compose
    from ._smtp_send import send

    assert spec.connection is not None  # else the load failed
    conn = runtime.pipeline.connections[spec.connection].spec
    message = compose(spec, step.id, context, runtime)
    return send(conn, message, step, context, runtime)
