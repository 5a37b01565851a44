"""The JSON Schema 2020-12 metaschema as one self-contained document, for checking the
schemas users write (``input_schema``, an ``expect`` schema).

The official metaschema is eight documents: the main one ``allOf``s seven vocabularies,
and each refers back to the whole through ``$dynamicRef: "#meta"``. jsonschema resolves
that dynamic reference by walking the scope at every subschema, which made the metaschema
pass over 20% of a ``hookline check``. Nothing here extends the metaschema, so every
``$dynamicRef: "#meta"`` means the main document: merging the vocabularies' properties
and ``$defs`` into one document and writing ``$ref: "#"`` instead checks the same rules,
with the same keywords, at the same paths (a test compares the messages of both over a
corpus of broken schemas), in about an eighth of the time.

The document is composed from the copy that jsonschema ships, so it follows the library.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

_BASE = "https://json-schema.org/draft/2020-12/"
# Keys whose values are maps of names to schemas: their keys are names, not keywords.
_NAMED = frozenset({"properties", "$defs"})


def _local(node: Any, named: bool = False) -> Any:
    """``node`` with every reference pointing inside the one merged document."""
    if isinstance(node, list):
        return [_local(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if named:
            out[key] = _local(value)
        elif key == "$dynamicRef":
            if value != "#meta":
                raise ValueError(f"unexpected $dynamicRef {value!r} in the metaschema")
            out["$ref"] = "#"
        elif key == "$ref":
            # "meta/validation#/$defs/stringArray" and "#/$defs/x": the merged $defs.
            if "#/$defs/" not in value:
                raise ValueError(f"unexpected $ref {value!r} in the metaschema")
            out["$ref"] = "#" + value.split("#", 1)[1]
        else:
            out[key] = _local(value, key in _NAMED)
    return out


def merged_metaschema() -> dict[str, Any]:
    """The 2020-12 metaschema as one document without dynamic references."""
    from jsonschema_specifications import REGISTRY

    main = REGISTRY.contents(_BASE + "schema")
    merged: dict[str, Any] = {"type": ["object", "boolean"], "properties": {}, "$defs": {}}
    parts = [REGISTRY.contents(_BASE + ref["$ref"]) for ref in main["allOf"]] + [main]
    for part in parts:
        if part.get("type") != ["object", "boolean"]:
            raise ValueError("a metaschema vocabulary with a type of its own")
        for where in ("properties", "$defs"):
            for name, sub in part.get(where, {}).items():
                if name in merged[where]:
                    raise ValueError(f"{where} '{name}' is defined twice in the metaschema")
                merged[where][name] = _local(sub)
    return merged


@cache
def metaschema_validator() -> Draft202012Validator:
    """Built once per process; formats are checked as the official metaschema asks."""
    return Draft202012Validator(
        merged_metaschema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
