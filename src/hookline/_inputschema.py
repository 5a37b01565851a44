"""A trigger's ``input_schema``: a JSON Schema written by the user, checked at load.

Beyond the metaschema: keys that look like a misspelt keyword (JSON Schema would silently
ignore them), ``$ref`` outside the schema (never fetched), and patterns the time-limited
matcher of ``_patterns`` cannot run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._document import Path, where
from ._exprchecks import did_you_mean
from ._fastschema import metaschema_valid

_KEYWORDS = frozenset(
    [
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "$defs",
        "definitions",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "items",
        "contains",
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "dependencies",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
    ]
)
_ONE_SCHEMA = [
    "not",
    "if",
    "then",
    "else",
    "items",
    "contains",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
]
_SCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]
_SCHEMA_LISTS = ["allOf", "anyOf", "oneOf", "prefixItems"]


def _keyword_typos(schema: Any, path: Path) -> Iterator[tuple[Path, str, bool]]:
    """Keys that look like a misspelt keyword: JSON Schema would silently ignore them."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            prefix = f"{where(path)}: " if path else ""
            yield (
                (*path, key),
                f"{prefix}'$ref: {value}' points outside this schema; hookline does not fetch "
                "schemas: write it here, under $defs, and refer to it as '#/$defs/NAME'",
                False,
            )
        elif key not in _KEYWORDS:
            hint = did_you_mean(key, sorted(_KEYWORDS))
            if hint:
                prefix = f"{where(path)}: " if path else ""
                yield (
                    (*path, key),
                    f"{prefix}'{key}' is not a JSON Schema keyword and would be ignored{hint}",
                    True,
                )
        elif key in _ONE_SCHEMA:
            yield from _keyword_typos(value, (*path, key))
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _keyword_typos(sub, (*path, key, name))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from _keyword_typos(sub, (*path, key, i))


def input_schema_problems(schema: Any) -> list[tuple[Path, str, bool]]:
    """What is wrong with a JSON Schema a user wrote: (path inside it, message, at key)."""
    found = [] if metaschema_valid(schema) else _metaschema_problems(schema)
    found += _keyword_typos(schema, ())
    found += _pattern_problems(schema)
    return sorted(set(found), key=lambda m: (len(m[0]), m[1]))


def _metaschema_problems(schema: Any) -> list[tuple[Path, str, bool]]:
    from ._metaschema import metaschema_validator  # imports jsonschema
    from ._validate import _TYPE_NAMES, _messages

    found = []
    for error in metaschema_validator().iter_errors(schema):
        for sub, message, at_key in _messages(error):
            if error.validator == "type" and str(error.instance) in _TYPE_NAMES:
                message += f"; write {{type: {error.instance}}}"  # properties: {name: string}
            found.append((sub, message, at_key))
    return found


def _pattern_problems(schema: Any) -> Iterator[tuple[Path, str, bool]]:
    """Patterns the time-limited matcher (``_patterns``) cannot run.

    It uses the ``regex`` package; jsonschema's own ``unevaluatedProperties`` would match
    ``patternProperties`` with ``re``, without a time limit, so the two are not combined.
    """
    stack: list[tuple[Any, Path]] = [(schema, ())]
    pattern_properties = unevaluated = None
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        patterns = []
        if isinstance(node.get("pattern"), str) and path[-1:] != ("properties",):
            patterns.append(((*path, "pattern"), node["pattern"], False))
        if isinstance(node.get("patternProperties"), dict) and path[-1:] != ("properties",):
            pattern_properties = pattern_properties or path
            patterns += [
                ((*path, "patternProperties", k), k, True) for k in node["patternProperties"]
            ]
        if "unevaluatedProperties" in node and path[-1:] != ("properties",):
            unevaluated = unevaluated or (*path, "unevaluatedProperties")
        for at, pattern, at_key in patterns:
            import regex  # only for a schema with patterns

            try:
                regex.compile(pattern)
            except (regex.error, ValueError) as exc:
                yield at, f"{where(at)}: the pattern {pattern} cannot be used: {exc}", at_key
        stack.extend((value, (*path, key)) for key, value in node.items())
    if pattern_properties is not None and unevaluated is not None:
        yield (
            unevaluated,
            f"{where(unevaluated)}: cannot be combined with patternProperties in an "
            "input_schema (their patterns would be matched without a time limit): use "
            "additionalProperties",
            True,
        )
