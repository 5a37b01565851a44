"""The schema fragment of the pipeline's ``env`` block (``_env`` reads the block)."""

from __future__ import annotations

from ._schemabits import NAME_PATTERN, Schema, obj, prop

__all__ = ["SCHEMA"]

_SCALAR: Schema = {"type": ["string", "number", "boolean"]}

SCHEMA: Schema = prop(
    {
        "type": "object",
        "propertyNames": {"pattern": NAME_PATTERN},
        "additionalProperties": {
            "anyOf": [
                {**_SCALAR, "description": "The default value."},
                {"type": "null", "description": "No default: the run needs it set."},
                obj(
                    {
                        "default": prop(
                            _SCALAR,
                            "The value when the environment does not set it (text).",
                            "https://crm.example.com/api",
                        ),
                        "description": prop(
                            {"type": "string"}, "What the value is for.", "Base URL of the CRM"
                        ),
                    }
                ),
            ]
        },
    },
    "Environment variables the pipeline reads (not secret, never masked); read as "
    "`env.<NAME>`. Each maps to its default, to null (no default: a run needs it set), or "
    "to {default, description}. Values come from the environment or --env-file.",
    {"CRM_URL": {"default": "https://crm.example.com/api", "description": "CRM base URL"}},
    {"REGION": None, "PAGE_SIZE": "50"},
)
