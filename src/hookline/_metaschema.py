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
Its files are read where the ``jsonschema_specifications`` package keeps them: importing
that package parses the metaschemas of every draft (and imports ``referencing`` and
``attrs``), which cost a check more than all its valid input schemas. jsonschema itself
is imported only to word the errors of a schema that has some.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def _shipped() -> Callable[[str], Any]:
    """The 2020-12 metaschema documents that jsonschema ships, by their ``$id``."""
    spec = importlib.util.find_spec("jsonschema_specifications")  # found, not imported
    folders = spec.submodule_search_locations if spec is not None else None
    found: dict[str, Any] = {}
    if folders:
        draft = Path(next(iter(folders)), "schemas", "draft202012")
        try:
            files = [draft / "metaschema.json", *sorted((draft / "vocabularies").iterdir())]
        except OSError:
            files = []
        for file in files:
            try:
                document = json.loads(file.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(document, dict) and isinstance(document.get("$id"), str):
                found[document["$id"]] = document
    if _BASE + "schema" in found:
        return found.__getitem__
    from jsonschema_specifications import REGISTRY  # laid out otherwise: ask the package

    return REGISTRY.contents  # type: ignore[no-any-return]


def merged_metaschema() -> dict[str, Any]:
    """The 2020-12 metaschema as one document without dynamic references."""
    contents = _shipped()
    main = contents(_BASE + "schema")
    merged: dict[str, Any] = {"type": ["object", "boolean"], "properties": {}, "$defs": {}}
    parts = [contents(_BASE + ref["$ref"]) for ref in main["allOf"]] + [main]
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
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        merged_metaschema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
