"""A webhook body → the run's input: JSON or a form, checked against input_schema.

The body is untrusted. JSON goes through the same parser as ``run-pipeline --input``
(depth and value limits, lone surrogates repaired); a form through ``parse_qsl`` with a
cap on its fields. Each refusal is a ``BodyRefused`` carrying the HTTP status and a
message in plain words (no body text is echoed beyond what a parser error locates).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from .._errors import InputInvalid
from .._inputs import check_input, parse_input
from .._model import Pipeline

# Fields in one form body: a real form has tens; each costs a dict entry and a decode.
MAX_FORM_FIELDS = 1000

JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"


class BodyRefused(Exception):
    """The body cannot be a run's input: answer ``status`` with ``body`` as JSON."""

    def __init__(self, status: int, message: str, problems: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.problems = problems

    def answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": str(self)}
        if self.problems is not None:
            out["problems"] = self.problems
        return out


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (content_type or "").partition(";")[0].strip().lower()


def parse_body(content_type: str | None, body: bytes) -> tuple[Any, str]:
    """(the input value, the JSON text errors are located in)."""
    kind = media_type(content_type)
    is_json = kind in JSON_TYPES or (kind.startswith("application/") and kind.endswith("+json"))
    if not is_json and kind != FORM_TYPE:
        shown = f"'{kind[:100]}'" if kind else "missing"
        raise BodyRefused(
            415,
            f"the Content-Type is {shown}: send application/json or {FORM_TYPE}",
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyRefused(400, f"the body is not UTF-8 text (at byte {exc.start})") from None
    if kind == FORM_TYPE:
        return _form(text)
    if not text.strip():
        raise BodyRefused(400, "the body is empty: send a JSON document")
    try:
        return parse_input("body", text), text
    except InputInvalid as exc:
        first = exc.problems[0]
        message = first.message.replace("the input", "the body", 1)
        raise BodyRefused(400, f"{message} (line {first.line}, column {first.col})") from None


def _form(text: str) -> tuple[Any, str]:
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except ValueError as exc:
        if "Max number of fields" in str(exc):
            message = f"the form has more than {MAX_FORM_FIELDS} fields"
        else:
            message = "the form is not valid: a value is not UTF-8 once decoded"
        raise BodyRefused(400, message) from None
    # A field sent once is a string; sent several times (checkboxes), a list of them.
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            earlier = value[key]
            value[key] = [*earlier, item] if isinstance(earlier, list) else [earlier, item]
        else:
            value[key] = item
    return value, json.dumps(value, ensure_ascii=False)


def check_schema(pipeline: Pipeline, validator: Any, value: Any, text: str) -> None:
    """Raise BodyRefused (422) with every problem by path when input_schema is broken.

    ``validator`` (built once per route) answers the common case, a valid body, without
    rebuilding a validator per request; only a failing body pays for located messages."""
    if validator is None:
        return
    errors = validator.errors(value)
    if next(errors, None) is None:
        return
    try:
        check_input(pipeline, value, ("body", text))
    except InputInvalid as exc:
        problems = []
        for problem in exc.problems:
            path, sep, message = problem.message.partition(": ")
            if not sep:
                path, message = "input", problem.message
            problems.append({"path": path, "message": message})
        raise BodyRefused(
            422, "the body does not match the webhook's input_schema", problems
        ) from None
