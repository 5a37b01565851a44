"""A run remembers files that passed every check, with their loaded document: the next run
skips the YAML parse and the schema pass, and gets the very same document."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hookline._document import from_json, to_json
from hookline._errors import PipelineInvalid
from hookline._yamlpos import load_yaml

PIPELINE = """\
version: 1
name: cached
steps:
  - id: greet
    set: "hello ${{ input.name }}"
output: "${{ steps.greet }}"
"""

PROBE = textwrap.dedent("""
    import sys
    from hookline.cli import run_pipeline_main
    code = run_pipeline_main([sys.argv[1], "--input", '{"name": "Ana"}', "-q"])
    print(code, "jsonschema" in sys.modules, "yaml" in sys.modules, "difflib" in sys.modules)
""")


def run(path, home):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        env={"HOOKLINE_HOME": str(home), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_second_run_skips_yaml_and_a_changed_file_is_checked_again(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    # First run: full validation; a valid file needs no jsonschema (_fastschema says yes).
    assert run(path, home) == "0 False True False"
    assert len(list((home / "validated").iterdir())) == 1
    assert run(path, home) == "0 False False False"  # same bytes: no YAML, no schema pass

    path.write_text(PIPELINE.replace("set:", "sett:"), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from hookline.cli import main; raise SystemExit(main())",
            "run",
            str(path),
        ],
        env={"HOOKLINE_HOME": str(home), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "unknown key 'sett'; did you mean 'set'?" in proc.stderr


def test_check_always_validates_and_remembers_nothing(cli, write, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "home"))
    assert cli("check", write("p.yaml", PIPELINE)).code == 0
    assert not (tmp_path / "home" / "validated").exists()


def test_a_damaged_entry_only_costs_a_full_load(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    assert run(path, home) == "0 False True False"
    (entry,) = (home / "validated").iterdir()
    for damaged in (b"", b"{not json", b'{"format": 0}', b'{"format": 1, "data": {}}'):
        entry.write_bytes(damaged)
        assert run(path, home) == "0 False True False"  # loaded and checked again
        assert run(path, home) == "0 False False False"  # and remembered again


def documents():
    root = Path(__file__).resolve().parents[1]
    return sorted((root / "pipelines").glob("*.yaml")) + sorted(
        (root / "tests" / "pipelines").rglob("*.yaml")
    )


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_a_remembered_document_is_the_loaded_one(path):
    """Data, every position and every scalar style come back as the YAML loader made
    them (the plan reads positions for messages at run time)."""
    raw = path.read_bytes()
    try:
        doc = load_yaml(str(path), raw)
    except PipelineInvalid:
        pytest.skip("not loadable YAML: never remembered")
    back = from_json(str(path), raw.decode("utf-8-sig"), to_json(doc).encode())
    assert back is not None
    assert json.dumps(back.data) == json.dumps(doc.data)  # types too: 1 and 1.0 differ
    assert back.data == doc.data
    assert back.values == doc.values
    assert back.keys == doc.keys
    assert back.lines == doc.lines
    assert list(back.values) == list(doc.values)


def test_special_values_survive():
    text = 'a: .nan\nb: -.inf\nc: "\\ud800 x"\nd: 12345678901234567890123\ne: 1.0\nf: [1, 2.5]\n'
    doc = load_yaml("s.yaml", text)
    back = from_json("s.yaml", text, to_json(doc).encode())
    assert back is not None
    assert repr(back.data) == repr(doc.data)
