"""The manual trigger: a run started from the command line (or by hand, from any trigger)."""

from __future__ import annotations

from .._schemabits import Schema, obj, prop

INPUT_SCHEMA = prop(
    {"type": "object"},
    "A JSON Schema (Draft 2020-12) that the run's input must satisfy; checked before any "
    "step runs.",
    {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
)

SCHEMA: Schema = prop(
    obj({"input_schema": INPUT_SCHEMA}),
    "Run by hand: `run-pipeline FILE --input JSON`.",
    {},
    {"input_schema": {"type": "array"}},
)
