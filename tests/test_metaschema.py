"""The merged metaschema checks what the official 2020-12 metaschema checks, with the same
messages: it replaced the official one only to be faster."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hookline._metaschema import merged_metaschema, metaschema_validator
from hookline._validate import _messages

# Schemas users get wrong, one mistake (or several) each, at every depth the metaschema
# recurses through: properties, items, $defs, allOf, not, if/then, dependentSchemas...
BROKEN: list[Any] = [
    {"type": "arrayy"},
    {"type": ["string", "nope"]},
    {"type": 3},
    {"required": "name"},
    {"required": ["a", "a"]},
    {"required": [1]},
    {"properties": {"name": "string"}},
    {"properties": {"age": {"type": "integer", "minimum": "0"}}},
    {"properties": []},
    {"items": {"type": "object", "required": "x", "properties": {"y": {"maxLength": -1}}}},
    {"items": [{"type": "string"}]},
    {"prefixItems": {"type": "string"}},
    {"prefixItems": []},
    {"$defs": {"a": {"enum": "x"}}},
    {"definitions": {"a": {"type": "strin"}}},
    {"allOf": []},
    {"anyOf": {"type": "string"}},
    {"oneOf": [{"type": "string"}, 5]},
    {"not": "x"},
    {"if": {"const": 1}, "then": {"minItems": 1.5}, "else": {"maxItems": -2}},
    {"dependentSchemas": {"a": {"type": 1}}},
    {"dependentRequired": {"a": "b"}},
    {"dependencies": {"a": 5}},
    {"patternProperties": {"^x": {"type": "nope"}}},
    {"patternProperties": {"(": {"type": "string"}}},
    {"pattern": "("},
    {"pattern": 5},
    {"additionalProperties": {"type": "objekt"}},
    {"propertyNames": {"maxLength": "3"}},
    {"unevaluatedProperties": 1},
    {"unevaluatedItems": {"type": []}},
    {"contains": {"type": "x"}, "minContains": -1, "maxContains": "a"},
    {"uniqueItems": "yes"},
    {"multipleOf": 0},
    {"multipleOf": -2},
    {"enum": "a"},
    {"format": 5},
    {"$ref": 5},
    {"$id": "#frag"},
    {"$id": 5},
    {"$schema": 5},
    {"$anchor": "1bad"},
    {"$dynamicAnchor": "no spaces allowed"},
    {"$vocabulary": {"x": "y"}},
    {"$comment": 1},
    {"title": 1, "description": [], "deprecated": "no", "readOnly": 1, "examples": {}},
    {"contentEncoding": 1, "contentMediaType": 2, "contentSchema": {"type": "x"}},
    {"minProperties": -1, "maxProperties": 1.5, "minLength": "1"},
    {"exclusiveMinimum": "1", "exclusiveMaximum": None, "maximum": []},
    {"$recursiveAnchor": "yes", "$recursiveRef": 1},
    {"properties": {"a": {"properties": {"b": {"items": {"allOf": [{"type": "x"}]}}}}}},
    "string",
    5,
    None,
    [],
]


def official_messages(schema: Any) -> list[tuple[Any, ...]]:
    validator = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return sorted({m for e in validator.iter_errors(schema) for m in _messages(e)})


def merged_messages(schema: Any) -> list[tuple[Any, ...]]:
    return sorted({m for e in metaschema_validator().iter_errors(schema) for m in _messages(e)})


@pytest.mark.parametrize("schema", BROKEN, ids=[str(i) for i in range(len(BROKEN))])
def test_the_merged_metaschema_finds_what_the_official_one_finds(schema: Any) -> None:
    expected = official_messages(schema)
    assert expected, "every schema in the corpus is broken"
    assert merged_messages(schema) == expected


def test_a_valid_schema_passes_both() -> None:
    schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
        "$defs": {"x": {"anyOf": [{"$ref": "#/$defs/x"}, {"type": "null"}]}},
        "dependentRequired": {"a": ["b"]},
    }
    assert official_messages(schema) == merged_messages(schema) == []


def test_no_dynamic_reference_is_left() -> None:
    """A ``$dynamicRef`` left in would still be resolved the slow way."""
    refs: list[str] = []

    def walk(node: Any, named: bool = False) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if named:  # a property called "$ref" is a name, not a reference
                    walk(value)
                elif key in ("$ref", "$dynamicRef"):
                    refs.append(f"{key} {value}")
                else:
                    walk(value, key in ("properties", "$defs"))

    walk(merged_metaschema())
    assert refs
    assert all(ref == "$ref #" or ref.startswith("$ref #/$defs/") for ref in refs), refs
