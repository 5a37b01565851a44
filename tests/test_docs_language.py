"""docs/language.md (and README.md): every pipeline shown is valid and does what is shown.

The fenced blocks of docs/language.md follow these rules:

- `yaml`: a whole pipeline (its first line that is not a comment is ``version: 1``). It
  must pass ``hookline.load_pipeline``.
- `yaml fragment`: a piece of a pipeline. It must be YAML; nothing else is checked.
- `yaml invalid`: a whole pipeline with mistakes. The next block (`text`) lists exactly
  what ``hookline check`` reports for it, saved as ``pipeline.yaml``.
- `json run`, right after a whole pipeline: ``{"input": ..., "output": ...}``, or
  ``{"input": ..., "error": ...}`` for a run that fails. The pipeline is run with
  ``run-pipeline`` and that input, and must print that output (or fail with that error).
  A whole pipeline that needs no network and no secrets must have one.

In README.md only the whole pipelines are checked (README has other YAML, such as the
pre-commit configuration).

Every top-level key and step kind of the JSON Schema must appear in docs/language.md in
backticks or in a heading, and every key anywhere in the schema inside a code span, so
that the page cannot fall behind the schema.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hookline import PipelineInvalid, load_pipeline
from hookline._schema import STEP_KIND_NAMES, compose
from support import ROOT

LANGUAGE = ROOT / "docs" / "language.md"
README = ROOT / "README.md"
OFFLINE_KINDS = frozenset({"set", "for_each", "fail"})
# Files that examples refer to by relative path (wsdl: wsdl/crm.wsdl, ...).
SIDE_FILES = ("wsdl", "graphql")

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence
    info: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def is_pipeline(self) -> bool:
        return self.info == "yaml" and _first_line(self.text) == "version: 1"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(path.name, text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        for m in FENCE.finditer(text)
    ]


LANGUAGE_BLOCKS = blocks(LANGUAGE)
PIPELINES = [b for b in LANGUAGE_BLOCKS if b.is_pipeline] + [
    b for b in blocks(README) if b.is_pipeline
]


def _followed_by(info: str, source: list[Block]) -> list[tuple[Block, Block]]:
    """(block, the block after it) for every block with this info string."""
    return [(b, nxt) for b, nxt in itertools.pairwise(source) if nxt.info == info]


RUNS = _followed_by("json run", LANGUAGE_BLOCKS)
INVALID = [b for b in LANGUAGE_BLOCKS if b.info == "yaml invalid"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding what example pipelines refer to; problems read 'pipeline.yaml'."""
    for name in SIDE_FILES:
        shutil.copytree(ROOT / "pipelines" / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_pipeline(block: Block) -> str:
    Path("pipeline.yaml").write_text(block.text, encoding="utf-8")
    return "pipeline.yaml"


def needs_nothing_outside(block: Block) -> bool:
    pipeline = load_pipeline(write_pipeline(block))
    return (
        pipeline.step_kinds <= OFFLINE_KINDS and not pipeline.connections and not pipeline.secrets
    )


# --- the blocks are what they say -------------------------------------------------------


def test_the_pages_hold_examples():
    assert len([b for b in PIPELINES if b.doc == "language.md"]) >= 15
    assert len(RUNS) >= 5
    assert [b.doc for b in PIPELINES].count("README.md") >= 1


def test_every_yaml_block_is_a_pipeline_a_fragment_or_a_marked_mistake():
    wrong = [
        f"{b.id}: info string {b.info!r}"
        for b in LANGUAGE_BLOCKS
        if b.info.startswith("yaml")
        and not (b.is_pipeline or b.info in ("yaml fragment", "yaml invalid"))
    ]
    assert not wrong, "a `yaml` block must start with `version: 1`, or be marked " + str(wrong)


def test_every_json_run_block_follows_a_whole_pipeline():
    runs = [b for b in LANGUAGE_BLOCKS if b.info == "json run"]
    attached = {nxt.line for b, nxt in RUNS if b.is_pipeline}
    assert [b.id for b in runs if b.line not in attached] == []


@pytest.mark.parametrize(
    "block", [b for b in LANGUAGE_BLOCKS if b.info == "yaml fragment"], ids=lambda b: b.id
)
def test_fragment_is_yaml(block: Block):
    assert yaml.safe_load(block.text) is not None


# --- whole pipelines ------------------------------------------------------------------


@pytest.mark.parametrize("block", PIPELINES, ids=lambda b: b.id)
def test_pipeline_is_valid(block: Block, workdir: Path):
    try:
        load_pipeline(write_pipeline(block))
    except PipelineInvalid as exc:
        pytest.fail(f"{block.id}: the example is invalid:\n{exc}")


@pytest.mark.parametrize(
    "block", [b for b in PIPELINES if b.doc == "language.md"], ids=lambda b: b.id
)
def test_pipeline_that_needs_nothing_outside_is_run(block: Block, workdir: Path):
    if needs_nothing_outside(block):
        assert block in [b for b, _ in RUNS], (
            f"{block.id}: needs no network and no secrets, so it must be followed by a "
            "`json run` block with its input and output"
        )


@pytest.mark.parametrize("pair", RUNS, ids=lambda pair: pair[1].id)
def test_pipeline_runs_as_shown(pair: tuple[Block, Block], workdir: Path, cli):
    block, run_block = pair
    expected: dict[str, Any] = json.loads(run_block.text)
    assert set(expected) in ({"input", "output"}, {"input", "error"}), (
        f"{run_block.id}: a `json run` block holds input and output (or error)"
    )
    path = write_pipeline(block)
    args = [path] if expected["input"] is None else [path, "--input", json.dumps(expected["input"])]
    result = cli(*args, prog="run-pipeline")
    if "output" in expected:
        assert result.code == 0, result.err
        assert json.loads(result.out) == expected["output"]
    else:
        assert result.code == 1, result.err
        assert result.out == ""
        assert result.err.splitlines()[-1] == f"error: {expected['error']}"


@pytest.mark.parametrize("block", INVALID, ids=lambda b: b.id)
def test_invalid_example_reports_what_the_page_shows(block: Block, workdir: Path, cli):
    after = LANGUAGE_BLOCKS[LANGUAGE_BLOCKS.index(block) + 1]
    assert after.info == "text", f"{block.id}: a `yaml invalid` block is followed by `text`"
    path = write_pipeline(block)
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == after.text.splitlines()


# --- the page keeps up with the schema -----------------------------------------------

TEXT = LANGUAGE.read_text(encoding="utf-8")
CODE_SPANS = re.findall(r"`([^`\n]+)`", TEXT)
HEADINGS = re.findall(r"^#+ (.*)$", TEXT, re.MULTILINE)


def _mentioned(key: str) -> bool:
    """In backticks on its own (`steps`), or a word of a heading."""
    in_heading = any(re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", h) for h in HEADINGS)
    return key in CODE_SPANS or in_heading


def _schema_keys(node: Any) -> set[str]:
    """Every property name in the schema (its examples left out)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "examples":
                continue
            if name == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            found |= _schema_keys(value)
    return found


def test_every_top_level_key_is_documented():
    keys = list(compose()["properties"])
    assert [k for k in keys if not _mentioned(k)] == []


def test_every_step_kind_is_documented():
    assert [k for k in STEP_KIND_NAMES if not _mentioned(k)] == []
    assert [k for k in STEP_KIND_NAMES if f"`{k}`" not in HEADINGS] == [], (
        "every step kind has a section of its own"
    )


def test_every_key_of_the_schema_appears_in_code():
    words = {w for span in CODE_SPANS for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}
    missing = sorted(_schema_keys(compose()) - words)
    assert missing == [], f"keys of the schema that docs/language.md never names: {missing}"
