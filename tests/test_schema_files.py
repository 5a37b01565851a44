"""The pipeline JSON Schema: generated files up to date, valid, documented, shipped."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hookline._schema import compose, dumps
from hookline.cli import main
from support import ROOT

REPO_FILE = ROOT / "schemas" / "pipeline.schema.json"
PACKAGED_FILE = ROOT / "src" / "hookline" / "schemas" / "pipeline.schema.json"
REGENERATE = "run `python -m hookline._schema` to regenerate it"

# Keywords whose values are data, not schemas: never walked for `properties`.
_DATA_KEYWORDS = frozenset({"examples", "enum", "const", "default", "required"})


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return compose()


@pytest.mark.parametrize("path", [REPO_FILE, PACKAGED_FILE], ids=["repo", "package"])
def test_checked_in_schema_is_the_composed_schema(path: Path) -> None:
    expected = dumps(compose())
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: {REGENERATE}"
    actual = path.read_bytes()
    assert actual == expected.encode("utf-8"), f"{path.relative_to(ROOT)} is stale: {REGENERATE}"


def test_schema_is_a_valid_draft_2020_12_schema(full: dict[str, Any]) -> None:
    assert full["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(full)


def _properties(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """(location, property schema) for every entry of every `properties` in ``node``."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{where}/{i}")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _DATA_KEYWORDS:
            continue
        if key == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                yield f"{where}/properties/{name}", sub
                yield from _properties(sub, f"{where}/properties/{name}")
        else:
            yield from _properties(value, f"{where}/{key}")


def test_the_walk_sees_every_part_of_the_schema(full: dict[str, Any]) -> None:
    found = dict(_properties(full))
    # top level, inside $defs, nested in oneOf branches and in component fragments
    for where in (
        "#/properties/steps",
        "#/$defs/step/properties/for_each/properties/items",
        "#/$defs/connection/properties/rest/properties/base_url",
        "#/properties/trigger/properties/webhook/properties/signature/properties/secret",
    ):
        assert where in found
    assert len(found) > 80


def test_every_property_has_a_description_and_examples(full: dict[str, Any]) -> None:
    missing = []
    for where, sub in _properties(full):
        if not isinstance(sub, dict):
            missing.append(f"{where}: not a schema object")
            continue
        description = sub.get("description")
        if not (isinstance(description, str) and description.strip()):
            missing.append(f"{where}: no description")
        examples = sub.get("examples")
        if not (isinstance(examples, list) and examples):
            missing.append(f"{where}: no examples")
    assert not missing, "\n".join(missing)


def test_every_example_is_valid_against_its_own_property(full: dict[str, Any]) -> None:
    wrong = []
    for where, sub in _properties(full):
        schema = {"$defs": full["$defs"], **sub}
        validator = Draft202012Validator(schema)
        for i, example in enumerate(sub.get("examples", [])):
            errors = [e.message for e in validator.iter_errors(example)]
            if errors:
                wrong.append(f"{where} examples[{i}] = {example!r}: {'; '.join(errors)}")
    assert not wrong, "\n".join(wrong)


def test_hookline_schema_prints_the_packaged_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == PACKAGED_FILE.read_text(encoding="utf-8")
    assert json.loads(out)["$id"] == "https://hookline.dev/schemas/pipeline.schema.json"


def test_installed_package_has_the_schema_file() -> None:
    packaged = resources.files("hookline") / "schemas/pipeline.schema.json"
    assert packaged.is_file()
    assert packaged.read_text(encoding="utf-8") == dumps(compose())


_NO_INDEX = re.compile(
    r"NewConnectionError|Failed to establish|No matching distribution|Could not find a version",
)


def test_the_wheel_ships_the_schema_and_migration_files(tmp_path: Path) -> None:
    """Build the wheel (from a copy, so the shared tree gets no build/ directory)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src",
        project / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    out = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(project)]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
    except subprocess.TimeoutExpired:
        pytest.skip("building the wheel took more than 20 s (the resources check covers it)")
    if done.returncode != 0 and _NO_INDEX.search(done.stderr + done.stdout):
        pytest.skip("no package index to fetch the build backend from")
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("hookline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "hookline/schemas/pipeline.schema.json" in archive.namelist()
        shipped = archive.read("hookline/schemas/pipeline.schema.json")
        names = set(archive.namelist())
    assert shipped == dumps(compose()).encode("utf-8")
    # The distributed mode creates its PostgreSQL tables from these files.
    migrations = sorted((ROOT / "src/hookline/scale/migrations").glob("*.sql"))
    assert migrations
    for sql in migrations:
        assert f"hookline/scale/migrations/{sql.name}" in names
