"""The pipeline JSON Schema, composed from the fragments each component owns.

``schemas/pipeline.schema.json`` (and its copy inside the package) is generated from
``compose()``: run ``python -m hookline._schema`` after changing a fragment; a test fails
while the checked-in files are stale.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from ._envschema import SCHEMA as ENV_SCHEMA
from ._schema_common import RETRY, TIMEOUT
from ._schemabits import (
    EXPRESSION,
    NAME_PATTERN,
    SECRET_PATTERN,
    Schema,
    exactly_one,
    obj,
    prop,
    ref,
)
from .connectors import CONNECTORS
from .steps import STEP_KINDS
from .triggers import TRIGGERS

SCHEMA_ID = "https://hookline.dev/schemas/pipeline.schema.json"
STEP_KIND_NAMES = list(STEP_KINDS)

ON_ERROR: Schema = prop(
    {
        "oneOf": [
            {"enum": ["fail", "continue"]},
            {
                "type": "object",
                "properties": {
                    "steps": prop(
                        {"type": "array", "minItems": 1, "items": ref("step")},
                        "Fallback steps; they see the failure as `error` "
                        "({step, message, status}).",
                        [{"id": "alert", "set": {"failed": "${{ error.message }}"}}],
                    )
                },
                "required": ["steps"],
                "additionalProperties": False,
            },
        ]
    },
    "What a failure of this step does: 'fail' (default) fails the run, 'continue' records "
    "the error as the step's result and goes on, {steps: [...]} runs fallback steps whose "
    "last result becomes this step's result.",
    "continue",
    {"steps": [{"id": "note", "set": {"skipped": True}}]},
)


def _step() -> Schema:
    common: dict[str, Schema] = {
        "id": prop(
            {"type": "string", "pattern": NAME_PATTERN},
            "Unique name of the step; later steps read its result as `steps.<id>`.",
            "create_lead",
        ),
        "name": prop({"type": "string"}, "A human title for logs.", "Create the lead"),
        "description": prop({"type": "string"}, "What the step is for.", "Create one lead."),
        "if": prop(
            EXPRESSION,
            "Run the step only when this expression is truthy; otherwise its result is null.",
            "input.email != `null`",
            "length(steps.fetch.items) > `0`",
        ),
        "extract": prop(
            {"type": "object", "additionalProperties": EXPRESSION},
            "Name → expression on the step's result; the step's result becomes these values.",
            {"record_id": "body.id"},
        ),
        "retry": RETRY,
        "timeout": TIMEOUT,
        "on_error": ON_ERROR,
    }
    kinds = {name: module.STEP_SCHEMA for name, module in STEP_KINDS.items()}
    return {
        **obj({**common, **kinds}, required=["id"]),
        **exactly_one(STEP_KIND_NAMES),
        "description": "One step: an id and exactly one of " + ", ".join(STEP_KIND_NAMES) + ".",
        "x-hookline": "step",
    }


def compose() -> Schema:
    """Build the whole pipeline schema from the component fragments."""
    connection = {
        **obj({name: mod.CONNECTION_SCHEMA for name, mod in CONNECTORS.items()}),
        **exactly_one(list(CONNECTORS)),
        "description": "A named connection: exactly one of " + ", ".join(CONNECTORS) + ".",
    }
    trigger = {
        **obj({name: mod.SCHEMA for name, mod in TRIGGERS.items()}),
        **exactly_one(list(TRIGGERS)),
    }
    top: dict[str, Schema] = {
        "version": prop({"const": 1}, "Version of the pipeline language.", 1),
        "name": prop(
            {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 100},
            "Name of the pipeline, used in logs and run history.",
            "calls-to-airtable",
        ),
        "description": prop(
            {"type": "string"}, "What the pipeline does.", "Send each call's form to Airtable."
        ),
        "trigger": prop(
            trigger,
            "What starts a run: exactly one of " + ", ".join(TRIGGERS) + " (default manual).",
            {"manual": {}},
            {"schedule": {"cron": "0 * * * *"}},
        ),
        "secrets": prop(
            {
                "type": "array",
                "items": {"type": "string", "pattern": SECRET_PATTERN},
                "uniqueItems": True,
            },
            "Names of the secrets the pipeline uses, read from the environment (or from the "
            "file named by NAME_FILE); their values are redacted everywhere.",
            ["AIRTABLE_TOKEN"],
        ),
        "env": ENV_SCHEMA,
        "vars": prop(
            {"type": "object", "propertyNames": {"pattern": NAME_PATTERN}},
            "Named values, computed once at the start of a run; read as `vars.<name>`.",
            {"table": "Leads", "batch_size": 10},
        ),
        "connections": prop(
            {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": ref("connection"),
            },
            "Named connections that steps use.",
            {"airtable": {"rest": {"base_url": "https://api.airtable.com/v0/appXXXX"}}},
        ),
        "steps": prop(
            {"type": "array", "minItems": 1, "items": ref("step")},
            "The steps, run in order.",
            [{"id": "greet", "set": {"hello": "${{ input.name }}"}}],
        ),
        "output": prop(
            {},
            "The run's result, printed as JSON by run-pipeline; may hold `${{ }}`.",
            "${{ steps.create_lead.record_id }}",
        ),
        "save_state": prop(
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 100,
                "propertyNames": {"pattern": NAME_PATTERN},
            },
            "Values kept for the next run, read as `state.<name>`: each template is rendered "
            "after the steps succeed and merged into the pipeline's stored state (null "
            "removes a key), committed with the run's record. See docs/state.md.",
            {"since": "${{ max(steps.fetch.body.orders[].updated_at) || state.since }}"},
        ),
        "concurrency": prop(
            {"type": "integer", "minimum": 1, "maximum": 100},
            "How many runs of this pipeline may run at once (default 1), under `serve` and "
            "system cron alike; a run past the limit waits in serve's queue, and "
            "run-pipeline exits 75. See docs/schedules.md.",
            1,
            4,
        ),
        "on_failure": prop(
            {"type": "array", "minItems": 1, "items": ref("step")},
            "Steps run when the run fails (an alert, say); they see the failure as `error`.",
            [{"id": "alert", "set": {"message": "${{ error.message }}"}}],
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "hookline pipeline",
        "description": "A hookline pipeline: a trigger, connections and steps. "
        "See docs/language.md.",
        **obj(top, required=["version", "name", "steps"]),
        "$defs": {"step": _step(), "connection": connection},
    }


@cache
def schema() -> Schema:
    return compose()


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


PACKAGED = Path(__file__).parent / "schemas" / "pipeline.schema.json"


@cache
def packaged() -> Schema:
    """The schema as shipped in the package: what validation uses. Reading it costs a
    fraction of composing it, which imports every component's module (SOAP and GraphQL
    for a REST pipeline); a test fails while the file differs from ``compose()``."""
    loaded: Schema = json.loads(PACKAGED.read_bytes())
    return loaded


def main() -> int:
    """Write the composed schema to schemas/ (repository) and the package copy."""
    text = dumps(compose())
    targets = [PACKAGED]
    repo_copy = Path(__file__).resolve().parents[2] / "schemas" / "pipeline.schema.json"
    if repo_copy.parent.is_dir():
        targets.append(repo_copy)
    for target in targets:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.name} ({len(text)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
