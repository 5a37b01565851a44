"""The quick load (data now, positions when asked) must give what the full loader gives:
the same data, and the same position for every path, asked one at a time or all at once.

A file it cannot take (an alias, a duplicate key, an unsupported tag, too deep) goes to
the full loader, so its messages and positions are the full loader's.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookline import _yamlpos
from hookline._document import Document, from_json, to_json
from hookline._errors import PipelineInvalid
from support import ROOT

pytestmark = pytest.mark.skipif(
    not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml"
)

FILES = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "invalid").glob("*.yaml")
)


def full(name: str, text: str) -> Document | str:
    try:
        return _yamlpos.load_yaml(name, text, fast=False)
    except PipelineInvalid as exc:
        return str(exc)


def quick(name: str, text: str) -> Document | None:
    """The document of the quick load, or None when it declines the file."""
    try:
        doc = _yamlpos.load_yaml(name, text)
    except PipelineInvalid:
        return None
    return doc if doc._locator is not None else None


def _paths(data: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path in ``data``, and paths that lead nowhere below and beside them."""
    out = [path, (*path, "nope"), (*path, 99)]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*path, i))
    return out


def assert_same(text: str, name: str = "p.yaml") -> bool:
    """The quick load agrees with the full one; False when it declined the file."""
    reference = full(name, text)
    doc = quick(name, text)
    if doc is None:
        return False
    assert not isinstance(reference, str), f"only the full loader rejects it: {reference}"
    assert doc.data == reference.data
    assert doc.problems == reference.problems == []
    for path in _paths(reference.data):  # one at a time, before the map is made
        assert doc.mark(path) == reference.mark(path), path
        assert doc.key_mark(path) == reference.key_mark(path), path
        assert doc.written(path) == reference.written(path), path
    assert doc._locator is not None  # asking for single paths maps nothing
    assert list(doc.values.items()) == list(reference.values.items())
    assert list(doc.keys.items()) == list(reference.keys.items())
    assert doc._locator is None
    return True


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_quick_load_agrees_with_the_full_one(path: Path) -> None:
    assert_same(path.read_text(encoding="utf-8"), path.name)


def test_the_examples_take_the_quick_load() -> None:
    examples = sorted((ROOT / "pipelines").glob("*.yaml"))
    assert examples
    for path in examples:
        assert assert_same(path.read_text(encoding="utf-8"), path.name), path


def _mutate(text: str, rng: random.Random) -> str:
    """A small edit of the kind that changes what the loaders must agree on."""
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    edits = [
        lambda s: s.replace(":", ": &a", 1),
        lambda s: s.replace(": ", ": *a ", 1),
        lambda s: s.replace(": ", ": !!str ", 1),
        lambda s: s.replace(": ", ": !!int ", 1),
        lambda s: s.replace(": ", ": !custom ", 1),
        lambda s: s.replace(": ", ": 2024-01-02 #", 1),
        lambda s: s.replace(": ", ": yes #", 1),
        lambda s: s.replace(": ", ": ~ #", 1),
        lambda s: s.replace(": ", ": 0x1f #", 1),
        lambda s: s.replace(": ", ": '' #", 1),
        lambda s: s.replace(": ", ": {<<: {z: 1}} #", 1),
        lambda s: s.replace(": ", ": [a, &b x, *b] #", 1),
        lambda s: s.lstrip(),
        lambda s: "  " + s,
        lambda s: s + s,  # a duplicate key, often
        lambda s: s.replace("-", "? ", 1),
        lambda s: s.replace('"', "", 1),
        lambda s: s.replace("id:", "1:", 1),
        lambda s: s.replace("id:", "'id':", 1),
    ]
    lines[i] = rng.choice(edits)(lines[i])
    return "".join(lines)


def test_random_edits_of_the_examples_agree_or_go_to_the_full_loader() -> None:
    rng = random.Random(10)
    sources = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "pipelines").glob("*.yaml"))]
    taken = declined = 0
    for _ in range(400):
        text = _mutate(rng.choice(sources), rng)
        if assert_same(text):
            taken += 1
        else:
            declined += 1
    assert taken > 100 and declined > 50  # both ways were exercised


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1}\nc: *x\n",  # an alias
        "a: 1\na: 2\n",  # a duplicate key
        "? [a]\n: 1\n",  # a key that is not text
        "yes: 1\n",  # a key YAML reads as a boolean
        "a: !!set {b}\n",  # a tag hookline does not take
        "a: !!int abc\n",  # a value its tag cannot read
        "a: {<<: {b: 1}, c: 2}\n",  # a merge key
        "a: 1\n---\nb: 2\n",  # two documents
    ],
)
def test_what_the_full_loader_words_is_left_to_it(text: str) -> None:
    assert quick("p.yaml", text) is None


def test_nesting_past_the_limit_is_left_to_the_full_loader() -> None:
    deep = "a: " + "[" * _yamlpos.MAX_DEPTH + "]" * _yamlpos.MAX_DEPTH + "\n"
    assert quick("p.yaml", deep) is None
    with pytest.raises(PipelineInvalid, match="nested more than 64 levels"):
        _yamlpos.load_yaml("p.yaml", deep)
    shallow = "a: " + "[" * (_yamlpos.MAX_DEPTH - 1) + "]" * (_yamlpos.MAX_DEPTH - 1) + "\n"
    assert assert_same(shallow)


def test_an_ampersand_in_a_value_is_not_an_anchor() -> None:
    assert assert_same("url: 'https://x.test/?a=1&b=2'\nq: a & b\n")


def test_the_validated_cache_keeps_every_position(tmp_path: Path) -> None:
    text = (ROOT / "pipelines" / "signups-to-crm.yaml").read_text(encoding="utf-8")
    doc = quick("p.yaml", text)
    assert doc is not None
    back = from_json("p.yaml", text, to_json(doc).encode())
    reference = full("p.yaml", text)
    assert isinstance(reference, Document) and back is not None
    assert back.values == reference.values
    assert back.keys == reference.keys


def test_a_word_read_before_keeps_its_type_only_where_it_is_plain() -> None:
    # The quick loader remembers the tag of each plain word it has read: a quoted word,
    # a key and a block scalar with the same text are still text.
    text = "a: true\nb: 'true'\nc: |\n  true\ntrue: 1\nd: [12, '12', 0x1f, ~, '~']\n"
    for _ in range(2):
        assert quick("p.yaml", text) is None  # `true:` is a key YAML reads as a boolean
    text = text.replace("true: 1\n", "")
    for _ in range(2):
        doc = quick("p.yaml", text)
        assert doc is not None
        assert doc.data == {"a": True, "b": "true", "c": "true\n", "d": [12, "12", 31, None, "~"]}
        assert assert_same(text)


def test_a_question_mark_in_a_flow_scalar_goes_to_the_full_loader() -> None:
    # libyaml reads `c? 1` inside braces as text; the full loader reports it, and wins.
    text = "version: 1\noutput: {a: c? 1, b: 2}\n"
    assert isinstance(full("p.yaml", text), str)
    assert quick("p.yaml", text) is None
