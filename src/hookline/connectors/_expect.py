"""``expect.schema``: a JSON Schema the response must match (a REST body, GraphQL
``data``, a SOAP result), so that an upstream change fails the step instead of quietly
writing nulls downstream.

The schema is checked when the file is (``_inputschema``: Draft 2020-12, no remote
``$ref``, patterns the time-limited matcher can run) and its validator is built once per
load. The response is hostile: its patterns are matched on the budget of ``_patterns``,
the problems reported are capped, and the message is redacted before it is cut.
jsonschema is imported only by pipelines that have such a schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schemabits import Schema, obj, prop

if TYPE_CHECKING:
    from .._patterns import TimedValidator
    from .._plan import Builder
    from .._runtime import Runtime

# Mismatches named in one step error; past it the rest are not even looked for. A response
# that breaks the schema everywhere (a wrong endpoint) says so in a few lines, not thousands.
MAX_PROBLEMS = 5
# Characters of the step error (after redaction); a mismatch quotes data from upstream.
MESSAGE_LIMIT = 2000
PROBLEM_LIMIT = 300  # characters of one mismatch, after redaction

SCHEMA_PROPERTY: Schema = prop(
    {"type": "object"},
    "A JSON Schema (Draft 2020-12) the response must match; a mismatch fails the step, "
    "naming the JSON path. Checked when the file is; `$ref` only inside it (`#/$defs/...`).",
    {"type": "object", "required": ["records"]},
    {
        "type": "object",
        "properties": {"id": {"type": "string"}, "email": {"type": ["string", "null"]}},
        "required": ["id"],
    },
)


def data_expect(what: str) -> Schema:
    """``expect`` of a step whose result is one value (GraphQL ``data``, a SOAP result)."""
    return prop(
        obj({"schema": SCHEMA_PROPERTY}, required=["schema"]),
        f"What the {what} must be: `schema`, a JSON Schema it must match.",
        {"schema": {"type": "object", "required": ["order"]}},
    )


class ResponseSchema:
    """A checked ``expect.schema`` and what it applies to (``body``, ``data``, ``result``).

    A plain class, not a dataclass: every REST run imports it (see ``_frozen``). Equal
    when the schema and root are; the validator is made from the schema."""

    __slots__ = ("root", "schema", "validator")

    def __init__(self, schema: dict[str, Any], root: str, validator: TimedValidator) -> None:
        self.schema = schema
        self.root = root
        self.validator = validator

    def __eq__(self, other: object) -> bool:
        if type(other) is not ResponseSchema:
            return NotImplemented
        return (self.schema, self.root) == (other.schema, other.root)

    __hash__ = None  # type: ignore[assignment]  # it holds a dict, as the dataclass did

    def __repr__(self) -> str:
        return f"ResponseSchema(schema={self.schema!r}, root={self.root!r})"

    def check(self, value: Any, step_id: str, runtime: Runtime) -> None:
        """Raise StepFailed naming the mismatches of ``value`` (the first MAX_PROBLEMS)."""
        from .._patterns import TIMEOUT

        found: list[str] = []
        more = False
        try:
            for error in self.validator.errors(value):
                if error.validator == TIMEOUT:
                    found.append(
                        f"{self.root}: matching the pattern {error.validator_value} took more "
                        f"than {self.validator.seconds:g} s (the time limit for expect.schema "
                        "patterns): the response is refused"
                    )
                    break
                if len(found) >= MAX_PROBLEMS:
                    more = True  # not counted: a hostile answer could hold millions
                    break
                found.extend(_messages(error, self.root, runtime))
        except RecursionError:  # a schema that recurses ($ref) over deeply nested data
            found.append(f"{self.root}: nested too deeply to check against expect.schema")
        if not found:
            return
        text = "; ".join(found[:MAX_PROBLEMS])
        if more or len(found) > MAX_PROBLEMS:
            text += "; more mismatches not shown"
        what = {"body": "response body", "data": "GraphQL data", "result": "SOAP result"}
        message = f"the {what.get(self.root, self.root)} does not match expect.schema: {text}"
        raise StepFailed(step_id, runtime.redactor.clip(message, MESSAGE_LIMIT))


def build(schema: Any, builder: Builder, path: tuple[Any, ...], root: str) -> ResponseSchema | None:
    """The compiled schema at ``path`` (``...expect.schema``); problems are located there."""
    if not isinstance(schema, dict):
        return None  # the pipeline schema says what it must be
    from .._inputschema import input_schema_problems  # imports jsonschema
    from .._patterns import TimedValidator

    problems = input_schema_problems(schema)
    for sub, message, at_key in problems:
        builder.error(
            (*path, *sub), f"expect.schema is not a valid JSON Schema: {message}", at_key=at_key
        )
    if problems:
        return None
    return ResponseSchema(schema, root, TimedValidator(schema))


def _name(root: str, path: tuple[Any, ...]) -> str:
    """``body.records[3].id``, ``body[0]``, ``body``: a path in the response."""
    from .._validate import where

    if not path:
        return root
    return root + (where(path) if isinstance(path[0], int) else "." + where(path))


def _messages(error: Any, root: str, runtime: Runtime) -> list[str]:
    """One mismatch in words, its path starting at ``root`` (``body.records[3].id``).

    The value the words quote comes from upstream: it is redacted before they are built
    (they shorten long strings), and each problem is cut to PROBLEM_LIMIT characters."""
    from .._validate import _messages as words
    from .._validate import describe, where

    clip = runtime.redactor.clip
    error.instance = runtime.redactor.value(error.instance)
    if error.validator == "pattern":  # the plain words, not those of a pipeline key
        at = _name(root, tuple(error.absolute_path))
        shown = f"{describe(error.instance)} does not match the pattern {error.validator_value}"
        return [clip(f"{at}: {shown}", PROBLEM_LIMIT)]
    out = []
    for sub, message, _ in words(error):
        # The words start with the path as a pipeline key ("records[3].id: "): find it,
        # and name it from the response's root instead.
        n = 0
        for n in range(len(sub), 0, -1):
            inner = where(sub[:n])
            if message.startswith(inner + ": "):
                message = message[len(inner) + 2 :]
                break
        else:
            n = 0
        out.append(clip(f"{_name(root, tuple(sub[:n]))}: {message}", PROBLEM_LIMIT))
    return out or [
        clip(f"{_name(root, tuple(error.absolute_path))}: {error.message}", PROBLEM_LIMIT)
    ]
