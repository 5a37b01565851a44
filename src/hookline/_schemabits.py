"""Small builders for JSON Schema fragments, so that every property carries help text.

Every property in the pipeline schema has a ``description`` and ``examples`` (editors
show them on hover and completion); these helpers make that the easy way to write one.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def prop(schema: Schema, description: str, *examples: Any) -> Schema:
    """A property schema with its help text and at least one example."""
    if not examples:
        raise ValueError(f"a property needs an example: {description}")
    return {**schema, "description": description, "examples": list(examples)}


def obj(properties: dict[str, Schema], *, required: list[str] | None = None) -> Schema:
    """A closed object: unknown keys are errors."""
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def exactly_one(keys: list[str]) -> Schema:
    """Require exactly one of ``keys``; the validator turns a failure into plain words."""
    return {"oneOf": [{"required": [k]} for k in keys]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


EXPRESSION: Schema = {
    "type": "string",
    "minLength": 1,
    "x-hookline": "expression",
}
"""A bare JMESPath expression (``${{ }}`` around it is accepted too)."""

TEMPLATE_STRING: Schema = {"type": "string"}
"""A string that may hold ``${{ expr }}``."""

DURATION: Schema = {
    "oneOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"},
    ],
    "x-hookline": "duration",
}

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
