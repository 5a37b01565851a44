"""One webhook route: everything the HTTP handler needs of a pipeline, built once at start
(and at each reload), never per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._model import Pipeline
from .._redact import Redactor
from ..expr import Template, compile_string, compile_value
from ..triggers.webhook import DEFAULT_SYNC_TIMEOUT, max_body
from ._queue import RunOutcome
from ._webhook_auth import Check, build_checks

# The longest header value a reply template may produce: a Location or a short note.
MAX_REPLY_HEADER = 8192
# What a header value cannot carry: control characters but tab (uvicorn refuses them
# mid-answer, and the client got nothing), and characters past Latin-1, which HTTP/1.1
# headers cannot hold (they were sent as '?'). RFC 8187 encoding is for parameters only.
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]")


@dataclass(frozen=True)
class Route:
    pipeline: Pipeline
    path: str
    method: str
    checks: tuple[Check, ...]
    max_body: int
    delivery_header: str | None  # lower case
    sync: bool
    timeout: float
    status: Template | None
    headers: tuple[tuple[str, Template], ...]
    validator: Any  # a TimedValidator of input_schema, or None
    redactor: Redactor

    @property
    def name(self) -> str:
        return self.pipeline.name


def build_route(pipeline: Pipeline, secrets: Mapping[str, str]) -> Route:
    """The route of a webhook pipeline whose secrets were read (``read_secrets(serve=True)``)."""
    config = pipeline.trigger.config
    context = {"secrets": dict(secrets)}

    def secret_of(text: str) -> str:
        render, _ = compile_string(text)
        return str(render(context))

    validator = None
    if pipeline.trigger.input_schema is not None:
        from .._patterns import TimedValidator

        validator = TimedValidator(dict(pipeline.trigger.input_schema))
    sync = config.get("reply") == "sync"
    timeout = DEFAULT_SYNC_TIMEOUT
    if config.get("timeout") is not None:
        from .._plan import parse_duration

        timeout = parse_duration(config["timeout"])
    header = config.get("delivery_header")
    raw_headers = config.get("headers") or {}
    return Route(
        pipeline=pipeline,
        path=str(config["path"]),
        method=str(config.get("method", "POST")),
        checks=build_checks(config, secret_of),
        max_body=max_body(config),
        delivery_header=str(header).lower() if header else None,
        sync=sync,
        timeout=timeout,
        status=_template(config["status"]) if "status" in config else None,
        headers=tuple((str(k), _template(v)) for k, v in raw_headers.items()),
        validator=validator,
        redactor=Redactor(tuple(secrets.values())),
    )


def _template(raw: Any) -> Template:
    def leaf(text: str, _sub: tuple[Any, ...]) -> Any:
        return compile_string(text)

    return compile_value(raw, leaf, ())


def sync_reply(
    route: Route, run_id: str, outcome: RunOutcome, value: Any
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a sync reply from the run's outcome; a template that
    gives an unusable status or header is answered 500 and said in the error."""
    run = {
        "id": run_id,
        "status": outcome.status,
        "error": outcome.error,
        "pipeline": route.name,
    }
    context = {"input": value, "output": outcome.output, "run": run}
    ok = outcome.status == "succeeded"
    status: Any = 200 if ok else 500
    headers: list[tuple[str, str]] = []
    try:
        if route.status is not None:
            status = route.status.render(context)
            # isascii: str.isdigit() also takes '²' or Devanagari digits (which int() reads).
            if isinstance(status, str) and status.isascii() and status.isdigit():
                status = int(status)
            if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
                raise ValueError(f"the reply's status template gave {_short(status)}, not 200-599")
        for name, template in route.headers:
            text = template.render(context)
            text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
            text = route.redactor.text(text)
            if len(text) > MAX_REPLY_HEADER or _UNSENDABLE.search(text):
                raise ValueError(
                    f"the reply's header {name} is over {MAX_REPLY_HEADER} characters, or "
                    "holds a line break, a control character or a character outside Latin-1"
                )
            headers.append((name, text))
    except Exception as exc:  # an expression error or a bad value: the reply, not the run
        message = route.redactor.clip(str(exc), 500)
        body = {"run_id": run_id, "status": outcome.status, "error": message}
        return 500, [], json.dumps(body).encode()
    output = route.redactor.value(outcome.output) if ok else None
    if ok:
        body_bytes = json.dumps(output, ensure_ascii=False, allow_nan=False).encode()
    else:
        body_bytes = json.dumps({"run_id": run_id, "status": outcome.status}).encode()
    return status, headers, body_bytes


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:40] + "…"
