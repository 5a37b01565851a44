"""The yes/no schema check that spares valid files jsonschema must agree with jsonschema:
a "valid" where jsonschema finds an error would let a broken pipeline run."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hookline._errors import PipelineInvalid
from hookline._fastschema import compile_schema, metaschema_valid, pipeline_valid
from hookline._validate import _validator
from hookline._yamlpos import load_yaml

ROOT = Path(__file__).resolve().parents[1]


def corpus() -> list[tuple[str, Any]]:
    found = []
    files = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
        (ROOT / "tests" / "invalid").glob("*.yaml")
    )
    for path in files:
        try:
            found.append((path.name, load_yaml(path.name, path.read_bytes()).data))
        except PipelineInvalid:
            continue  # not YAML at all: never validated
    return found


def jsonschema_valid(data: Any) -> bool:
    return not any(True for _ in _validator().iter_errors(data))


@pytest.mark.parametrize(("name", "data"), corpus(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_same_answer_for_every_example_and_broken_file(name: str, data: Any) -> None:
    assert pipeline_valid(data) == jsonschema_valid(data)


_VALUES: list[Any] = [None, True, False, 0, 1, -1, 2.5, 1.0, "", "x", "GET", "5/s", "2xx",
                      [], ["a"], [1, 1], {}, {"a": 1}, "${{ input }}", 10**6]  # fmt: skip


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*path, i))
    return out


def _mutate(data: Any, rng: random.Random) -> Any:
    data = copy.deepcopy(data)
    path = rng.choice(_paths(data)[1:])
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = rng.randrange(5)
    if action == 0:  # another value
        parent[last] = copy.deepcopy(rng.choice(_VALUES))
    elif action == 1 and isinstance(parent, dict):  # a key missing
        del parent[last]
    elif action == 2 and isinstance(parent, dict):  # a key misspelt, or one too many
        parent[str(last) + rng.choice(["", "s", "_x"])] = parent.pop(last)
        parent[rng.choice(["id", "set", "rest", "soap", "retry", "if", "x"])] = rng.choice(_VALUES)
    elif action == 3 and isinstance(parent, list):  # an item twice
        parent.append(copy.deepcopy(parent[last]))
    else:  # a value wrapped or unwrapped
        value = parent[last]
        parent[last] = [value] if not isinstance(value, list) else (value[0] if value else {})
    return data


def test_the_same_answer_for_random_mutations_of_the_examples() -> None:
    rng = random.Random(8)
    examples = [data for name, data in corpus() if jsonschema_valid(data)]
    assert len(examples) >= 10
    disagree = []
    for _ in range(1500):
        data = _mutate(rng.choice(examples), rng)
        if pipeline_valid(data) != jsonschema_valid(data):
            disagree.append(json.dumps(data)[:300])
    assert disagree == []


def official_metaschema_valid(schema: Any) -> bool:
    validator = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return not any(True for _ in validator.iter_errors(schema))


def test_a_user_schema_is_never_valid_here_when_the_metaschema_says_no() -> None:
    from test_metaschema import BROKEN

    rng = random.Random(3)
    schemas: list[Any] = list(BROKEN)
    for _, data in corpus():
        trigger = data.get("trigger") if isinstance(data, dict) else None
        for kind in (trigger or {}).values() if isinstance(trigger, dict) else ():
            if isinstance(kind, dict) and "input_schema" in kind:
                schemas.append(kind["input_schema"])
    good = [s for s in schemas if official_metaschema_valid(s)]
    # The fast path is taken, except for a URI ($ref, $id), a format checked elsewhere.
    plain = [s for s in good if "$ref" not in json.dumps(s) and "$id" not in json.dumps(s)]
    assert len(plain) >= 8
    assert all(metaschema_valid(s) for s in plain)
    for _ in range(800):
        schemas.append(_mutate({"s": rng.choice(good)}, rng).get("s"))
    wrong = [s for s in schemas if metaschema_valid(s) and not official_metaschema_valid(s)]
    assert wrong == []


def test_a_format_it_cannot_check_is_left_to_jsonschema() -> None:
    assert metaschema_valid({"pattern": "^a+$"})
    assert not metaschema_valid({"pattern": "("})  # not a regex: jsonschema says so
    assert not metaschema_valid({"$id": "https://example.com/s"})  # a URI: not sure here


@pytest.mark.parametrize(
    "schema",
    [
        {"contains": {"type": "string"}},
        {"unevaluatedProperties": False},
        {"$ref": "https://example.com/other.json"},
        {"items": [{"type": "string"}]},
        {"type": "strnig"},
        {"multipleOf": 3},
    ],
)
def test_what_is_not_implemented_makes_it_give_up(schema: Any) -> None:
    assert compile_schema(schema) is None


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"enum": [1, "a"]}, True, False),  # true is not 1
        ({"enum": [1, "a"]}, 1.0, True),
        ({"const": False}, 0, False),
        ({"uniqueItems": True}, [1, True], True),
        ({"uniqueItems": True}, [{"a": 1}, {"a": 1.0}], False),
        ({"type": "integer"}, 2.0, True),
        ({"type": "integer"}, True, False),
        ({"type": "number"}, False, False),
        ({"minimum": 1}, True, True),  # not a number: minimum does not apply
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1], True),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", "b"], False),
        (
            {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
            {"xa": 1},
            True,
        ),
        (
            {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
            {"ya": 1},
            False,
        ),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}, False),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1, "b": 2}, True),
        ({"not": {"anyOf": [{"required": ["json", "form"]}]}}, {"json": 1, "form": 2}, False),
        ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "a", False),  # both match
        ({"$defs": {"n": {"type": "null"}}, "items": {"$ref": "#/$defs/n"}}, [None, 1], False),
    ],
)
def test_keywords_as_jsonschema_reads_them(schema: Any, value: Any, valid: bool) -> None:
    check = compile_schema(schema)
    assert check is not None
    assert check(value) is valid
    assert Draft202012Validator(schema).is_valid(value) is valid
