"""libyaml composes most files; the Python loader the rest. Both must agree exactly."""

from __future__ import annotations

import pytest
import yaml

from hookline import _yamlpos
from hookline._errors import PipelineInvalid
from support import ROOT

FILES = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "invalid").glob("*.yaml")
)


def slow(file: str, text: str) -> _yamlpos.Document | str:
    """The Python loader alone."""
    try:
        return _yamlpos.load_yaml(file, text, fast=False)
    except PipelineInvalid as exc:
        return str(exc)


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_and_slow_loaders_agree(path):
    text = path.read_text(encoding="utf-8")
    fast = _yamlpos._load_fast(path.name, text)
    reference = slow(path.name, text)
    if fast is None:  # the fast path declined (an error or an alias): nothing to compare
        return
    assert not isinstance(reference, str), f"only the Python loader rejects it: {reference}"
    assert fast.data == reference.data
    assert fast.values == reference.values
    assert fast.keys == reference.keys
    assert fast.problems == reference.problems


def test_the_fast_path_is_taken_for_the_examples():
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    text = (ROOT / "pipelines" / "reshape-call-fields.yaml").read_text(encoding="utf-8")
    assert _yamlpos._load_fast("x.yaml", text) is not None


def test_an_alias_goes_to_the_python_loader_for_exact_positions():
    text = "a: &x {b: 1}\nc: *x\n"
    assert _yamlpos._load_fast("x.yaml", text) is None
    assert _yamlpos.load_yaml("x.yaml", text).data == {"a": {"b": 1}, "c": {"b": 1}}
