"""The JSON Schema of test files (``*.test.yaml``), and the command that writes it.

``schemas/pipeline-test.schema.json`` (and its copy inside the package) is generated from
``compose()``: run ``python -m hookline.testing._schema`` after changing it; a test fails
while the checked-in files are stale.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from .._schemabits import EXPRESSION, NAME_PATTERN, SECRET_PATTERN, Schema, obj, prop, ref
from ..connectors.rest import METHODS

SCHEMA_ID = "https://hookline.dev/schemas/pipeline-test.schema.json"
STEP_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?$"
FILE_NAME = "pipeline-test.schema.json"

ANY: Schema = {}
PAIRS: Schema = {"type": "object", "propertyNames": EXPRESSION}

_WHEN = prop(
    obj(
        {
            "method": prop({"enum": METHODS}, "HTTP method.", "POST"),
            "url": prop(
                {"type": "string", "minLength": 1},
                "The whole URL, without its query.",
                "https://api.example.com/v1/orders",
            ),
            "path": prop({"type": "string"}, "The URL's path.", "/v1/orders"),
            "query": prop(
                {"type": "object"},
                "Query parameters that must be present with these values.",
                {"page": "2"},
            ),
            "json": prop(ANY, "The request body, parsed as JSON, equals this.", {"id": 7}),
            "body": prop({"type": "string"}, "The request body text equals this.", "a=1"),
        }
    ),
    "Use this answer only for a request that matches all of these.",
    {"method": "GET", "query": {"page": "2"}},
)

ANSWER: Schema = prop(
    obj(
        {
            "when": _WHEN,
            "status": prop(
                {"type": "integer", "minimum": 100, "maximum": 599},
                "HTTP status of the answer (default 200).",
                201,
                503,
            ),
            "headers": prop(
                {"type": "object", "additionalProperties": {"type": "string"}},
                "Response headers.",
                {"Retry-After": "1"},
            ),
            "json": prop(ANY, "The response body, as JSON.", {"id": "rec1"}),
            "body": prop({"type": "string"}, "The response body, as text.", "OK"),
            "data": prop(ANY, "GraphQL: the response's `data`.", {"customer": {"id": "7"}}),
            "errors": prop(
                {"type": "array", "items": {"type": "object"}},
                "GraphQL: the response's `errors`.",
                [{"message": "Customer is locked"}],
            ),
            "result": prop(
                ANY,
                "The step's result, given outright (a SOAP step still builds and sends its "
                "envelope, captured for `expect.requests`; any other step does not run).",
                {"Id": "L-17"},
            ),
            "fault": prop(
                obj(
                    {
                        "code": prop({"type": "string"}, "Fault code.", "soap:Client"),
                        "message": prop({"type": "string"}, "Fault string.", "duplicate"),
                        "detail": prop(
                            {"type": "string"},
                            "The fault's detail: XML elements (or text), as written.",
                            '<LeadNotFound xmlns="urn:example:crm:leads"><email>a@b.c</email>'
                            "</LeadNotFound>",
                        ),
                    },
                    required=["message"],
                ),
                "SOAP: answer with this fault (HTTP 500).",
                {"code": "soap:Client", "message": "duplicate e-mail"},
            ),
            "envelope": prop(
                {"type": "string"},
                "SOAP: the whole XML reply.",
                "<soap:Envelope>...</soap:Envelope>",
            ),
        }
    ),
    "What a step gets: an HTTP answer (status, headers, json or body), a GraphQL answer "
    "(data, errors), a SOAP answer (result, fault, envelope) or a result given outright.",
    {"status": 201, "json": {"id": "rec1"}},
)

ANSWERS: Schema = prop(
    {
        "type": "object",
        "propertyNames": {"pattern": STEP_KEY_PATTERN},
        "additionalProperties": {
            "oneOf": [ref("answer"), {"type": "array", "minItems": 1, "items": ref("answer")}]
        },
    },
    "Answers by step key: `create` (every request of the step) or `create[3]` (iteration 3 "
    "of the loop around it); a list answers requests in order (pages, attempts).",
    {"create": {"status": 201, "json": {"id": 1}}},
)

REQUEST_CHECK: Schema = obj(
    {
        "count": prop({"type": "integer", "minimum": 0}, "How many requests the step sent.", 1),
        "method": prop({"enum": METHODS}, "HTTP method.", "POST"),
        "url": prop({"type": "string"}, "The whole URL, with its query.", "https://x.test/a?b=1"),
        "path": prop({"type": "string"}, "The URL's path.", "/v1/orders"),
        "query": prop({"type": "object"}, "Query parameters that must be present.", {"b": "1"}),
        "headers": prop({"type": "object"}, "Headers that must be present.", {"X-Tenant": "7"}),
        "json": prop(ANY, "The body parsed as JSON equals this.", {"id": 7}),
        "body": prop({"type": "string"}, "The body text equals this.", "a=1"),
        "where": prop(
            PAIRS,
            "JMESPath over {method, url, path, query, headers, json, body} → expected value.",
            {"json.fields.Email": "ada@example.com"},
        ),
    }
)

EXPECT: Schema = prop(
    obj(
        {
            "status": prop(
                {"enum": ["succeeded", "failed"]}, "The run's status (default succeeded).", "failed"
            ),
            "output": prop(ANY, "The output equals this exactly.", {"written": 2}),
            "output_where": prop(PAIRS, "JMESPath on the output → value.", {"length(@)": 2}),
            "error": prop({"type": "string"}, "The run's error equals this.", "step 'x' failed"),
            "error_contains": prop({"type": "string"}, "The error contains this.", "answered 503"),
            "failed_step": prop(
                {"type": "string", "pattern": NAME_PATTERN}, "The id of the failed step.", "create"
            ),
            "state": prop(ANY, "The state update the run would commit.", {"since": "2024-05-01"}),
            "state_where": prop(PAIRS, "JMESPath on the state update → value.", {"since": "x"}),
            "requests": prop(
                {
                    "type": "object",
                    "propertyNames": {"pattern": STEP_KEY_PATTERN},
                    "additionalProperties": {
                        "oneOf": [ref("request"), {"type": "array", "items": ref("request")}]
                    },
                },
                "The requests each step sent: a list (exactly these, in order) or a check "
                "every request passes (with `count`).",
                {"create": {"count": 1, "method": "POST"}},
            ),
        }
    ),
    "What the run must do. Without it the case passes when the run succeeds.",
    {"status": "succeeded", "output": {"written": 2}},
)

_SETUP: dict[str, Schema] = {
    "input": prop(ANY, "The run's input.", {"email": "ada@example.com"}),
    "vars": prop({"type": "object"}, "Overrides of the pipeline's vars.", {"base": "https://x"}),
    "env": prop(
        {"type": "object", "additionalProperties": {"type": "string"}},
        "Values of the pipeline's `env` names (the real environment is not read).",
        {"CRM_URL": "https://crm.test"},
    ),
    "state": prop({"type": "object"}, "The state the run starts with.", {"since": "2024-05-01"}),
    "secrets": prop(
        {
            "type": "object",
            "propertyNames": {"pattern": SECRET_PATTERN},
            "additionalProperties": {"type": "string", "minLength": 8},
        },
        "Values of declared secrets (default: placeholders); redacted like real ones.",
        {"CRM_TOKEN": "test-token-1234"},
    ),
    "answers": ANSWERS,
}

CASE: Schema = prop(
    obj(
        {
            "name": prop({"type": "string", "minLength": 1}, "The case's name.", "creates a lead"),
            **_SETUP,
            "expect": EXPECT,
        },
        required=["name"],
    ),
    "One test case: a run's input, the answers its steps get, and what must come of it.",
    {"name": "creates a lead", "input": {}, "expect": {"status": "succeeded"}},
)


def compose() -> Schema:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "hookline pipeline tests",
        "description": "Offline test cases of a hookline pipeline. See docs/testing.md.",
        **obj(
            {
                "version": prop({"const": 1}, "The test file format version.", 1),
                "pipeline": prop(
                    {"type": "string", "minLength": 1},
                    "The pipeline file, relative to this one (default: this file's name "
                    "without `.test`).",
                    "orders-sync.yaml",
                ),
                "defaults": prop(
                    obj(dict(_SETUP)),
                    "Merged under every case (a case's own keys win; answers merge by step).",
                    {"vars": {"base": "https://x"}},
                ),
                "cases": prop(
                    {"type": "array", "minItems": 1, "items": CASE},
                    "The test cases.",
                    [{"name": "creates a lead"}],
                ),
            },
            required=["version", "cases"],
        ),
        "$defs": {"answer": ANSWER, "request": REQUEST_CHECK},
    }


@cache
def schema() -> Schema:
    return compose()


PACKAGED = Path(__file__).resolve().parents[1] / "schemas" / FILE_NAME


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the composed schema to schemas/ (repository) and the package copy."""
    text = dumps(compose())
    targets = [PACKAGED]
    repo_copy = Path(__file__).resolve().parents[3] / "schemas" / FILE_NAME
    if repo_copy.parent.is_dir():
        targets.append(repo_copy)
    for target in targets:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.name} ({len(text)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
