"""The record of one HTTP attempt, for the run history and the ``--verbose`` log.

Every text that may hold a secret is redacted before it is cut (``Redactor.clip``), and
bodies are cut before the record is serialised, so a huge answer costs no more than
``BODY_LIMIT`` characters in the history.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._redact import mask_headers
from ._request import HttpRequest

if TYPE_CHECKING:
    from .._runtime import Runtime
    from ._transport import Answer

BODY_LIMIT = 64 * 1024  # characters of a body kept in the history and the verbose log
VERBOSE_BODY = 2000  # characters of a body shown in a --verbose text log
SNIPPET = 200  # characters of a response body quoted in an error message


def mask(headers: dict[str, Any]) -> dict[str, str]:
    """Header values as text, credential headers masked: the same names
    (``CREDENTIAL_HEADERS``) as in the dry-run report, so the two never disagree."""
    return {k: str(v) for k, v in mask_headers(headers).items()}


def body_text(req: HttpRequest) -> str | None:
    if req.has_json:
        return json.dumps(req.json, ensure_ascii=False)
    if req.form is not None:
        return json.dumps(req.form, ensure_ascii=False)
    return req.body


def snippet(runtime: Runtime, text: str) -> str:
    """The start of a response body for an error message: redacted, then cut."""
    text = " ".join(runtime.redactor.text(text).split())
    return f": {runtime.redactor.clip(text, SNIPPET)}" if text else ""


def record(
    runtime: Runtime,
    step_id: str,
    attempt: int,
    req: HttpRequest,
    answer: Answer | None,
    elapsed: float,
    error: str | None,
    sent_headers: dict[str, str],
) -> None:
    """Log (with --verbose) and keep (in the history) one attempt."""
    log = runtime.log
    if not runtime.keeps_history and log.level != "verbose":
        return  # nobody reads the record: do not build it
    clip = runtime.redactor.clip
    sent = body_text(req)
    entry: dict[str, Any] = {
        "attempt": attempt,
        "duration_ms": round(elapsed * 1000, 1),
        "request": {
            "method": req.method,
            "url": runtime.redactor.text(answer.url if answer is not None else req.url),
            "headers": mask(answer.sent_headers if answer is not None else sent_headers),
            "body": clip(sent, BODY_LIMIT) if sent else None,
        },
        "response": None,
        "error": runtime.redactor.text(error) if error else None,
    }
    if answer is not None:
        entry["response"] = {
            "status": answer.status,
            "headers": mask(dict(answer.headers)),
            "body": clip(answer.text, BODY_LIMIT) if answer.content else None,
        }
    if log.level == "verbose":
        request = entry["request"]
        log.detail(
            f"{step_id}: → {req.method} {request['url']}" + _verbose(runtime, request, log.fmt),
            event="request",
            step=step_id,
            request=request,
        )
        if answer is not None:
            log.detail(
                f"{step_id}: ← {answer.status} in {elapsed * 1000:.0f}ms"
                + _verbose(runtime, entry["response"], log.fmt),
                event="response",
                step=step_id,
                response=entry["response"],
            )
    runtime.record_attempt(step_id, entry)


def _verbose(runtime: Runtime, part: dict[str, Any], fmt: str) -> str:
    """Headers and the start of the body, indented, for --verbose text logs."""
    if fmt != "text":
        return ""  # JSON lines carry them as fields
    lines = [f"\n    {k}: {v}" for k, v in part["headers"].items()]
    body = part.get("body")
    if body:
        shown = runtime.redactor.clip(body, VERBOSE_BODY)
        lines.append("\n    " + shown.replace("\n", "\n    "))
    return "".join(lines)
