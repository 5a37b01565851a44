"""Render an email step's templates into a checked message, and the view of it that the
log, the history, the dry run and ``hookline test`` show (redacted, bodies cut)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from ._email_address import address_problem, split, subject_problem

if TYPE_CHECKING:
    from .._runtime import Runtime
    from .email_step import EmailSpec

MAX_ATTACHMENTS_SIZE = 10 * 1024 * 1024  # bytes, all of a message's attachments together
MAX_RECIPIENTS = 100  # to, cc and bcc together
SHOWN_BODY = 4000  # characters of each body the history and the dry run keep


@dataclass
class Composed:
    message: EmailMessage
    sender: str  # the envelope's MAIL FROM
    recipients: list[str]  # the envelope's RCPT TO, bcc included
    view: dict[str, Any]  # redacted, for the log, the history, the dry run and tests


def _addresses(value: Any, key: str, step_id: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if item is None or item == "":
            continue  # a template that gave nothing: no such recipient
        if not isinstance(item, str):
            raise StepFailed(step_id, f"{key}: an address must be text, got {type(item).__name__}")
        problem = address_problem(item)
        if problem:
            raise StepFailed(step_id, f"{key}: {problem}")
        out.append(item.strip())
    return out


def _header(addresses: list[str]) -> list[Address]:
    out = []
    for text in addresses:
        name, addr = split(text)
        local, domain = addr.rsplit("@", 1)
        out.append(Address(display_name=name, username=local, domain=domain))
    return out


def _content(value: Any) -> tuple[bytes, str, str]:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass"), "text", "plain"
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text.encode("utf-8", "surrogatepass"), "application", "json"


def compose(spec: EmailSpec, step_id: str, context: dict[str, Any], runtime: Runtime) -> Composed:
    from .email_step import file_name_problem

    def render(template: Any, key: str) -> list[str]:
        return _addresses(template.render(context), key, step_id) if template else []

    sender = render(spec.sender, "from")
    if len(sender) != 1:
        raise StepFailed(step_id, "from: must give exactly one address")
    to, cc, bcc = render(spec.to, "to"), render(spec.cc, "cc"), render(spec.bcc, "bcc")
    reply_to = render(spec.reply_to, "reply_to")
    recipients = to + cc + bcc
    if not recipients:
        raise StepFailed(step_id, "the message has no recipient: to, cc and bcc gave nothing")
    if len(recipients) > MAX_RECIPIENTS:
        raise StepFailed(
            step_id, f"the message has {len(recipients)} recipients; the most is {MAX_RECIPIENTS}"
        )
    subject = spec.subject.render(context)
    subject = "" if subject is None else str(subject)
    problem = subject_problem(subject)
    if problem:
        raise StepFailed(step_id, f"subject: {problem}")
    text = spec.text.render(context) if spec.text else None
    html = spec.html.render(context) if spec.html else None

    msg = EmailMessage(policy=SMTP)
    msg["From"] = _header(sender)
    if to:
        msg["To"] = _header(to)
    if cc:
        msg["Cc"] = _header(cc)
    if reply_to:
        msg["Reply-To"] = _header(reply_to)
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=split(sender[0])[1].rsplit("@", 1)[1])
    if text is not None or html is None:
        msg.set_content("" if text is None else str(text))
        if html is not None:
            msg.add_alternative(str(html), subtype="html")
    else:
        msg.set_content(str(html), subtype="html")

    names, total = [], 0
    for name_t, content_t in spec.attachments:
        name = name_t.render(context)
        name = "" if name is None else str(name)
        problem = file_name_problem(name) if name else "an attachment's name is empty"
        if problem:
            raise StepFailed(step_id, f"attachments: {problem}")
        data, main, sub = _content(content_t.render(context))
        total += len(data)
        if total > MAX_ATTACHMENTS_SIZE:
            raise StepFailed(
                step_id,
                f"attachments: '{name}' brings them past {MAX_ATTACHMENTS_SIZE} bytes in all; "
                "attach less (a summary, or the first records)",
            )
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
        names.append({"name": name, "type": f"{main}/{sub}", "size": len(data)})

    clip = runtime.redactor.clip
    headers = {
        k: str(v) for k, v in msg.items() if k.lower() not in ("content-type", "mime-version")
    }
    view = runtime.redactor.value({
        "from": sender[0],
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": reply_to,
        "subject": subject,
        "headers": headers,
        "text": clip(str(text), SHOWN_BODY) if text is not None else None,
        "html": clip(str(html), SHOWN_BODY) if html is not None else None,
        "attachments": names,
    })  # fmt: skip
    return Composed(msg, split(sender[0])[1], [split(r)[1] for r in recipients], view)
