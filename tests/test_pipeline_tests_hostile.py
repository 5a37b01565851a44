"""``hookline test`` given hostile test files and answers: ``pipeline:`` names only a
pipeline in the test file's folder (never ``.env``, ``/etc/passwd`` or a device, and no
line of a non-pipeline is quoted); control characters never reach the terminal raw; the
JUnit report stays well-formed XML; located errors speak of test files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PIPELINE = """\
version: 1
name: j
connections:
  api: {rest: {base_url: "https://api.example.com"}}
steps:
  - id: r
    rest: {connection: api, path: /x}
output: "${{ steps.r.body.v }}"
"""

SECRET = "patXyZ1234567890abcdef"


def naming(folder: Path, target: str) -> Path:
    test = folder / "t.test.yaml"
    test.write_text(f"version: 1\npipeline: {target}\ncases:\n  - name: a\n", encoding="utf-8")
    return test


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (".env", "pipeline: '.env' is not a .yaml or .yml file"),
        (
            "/etc/passwd",
            "pipeline: '/etc/passwd' is an absolute path: name the pipeline by its path from "
            "this test file's folder (orders.yaml, or flows/orders.yaml below it)",
        ),
        (
            "/dev/zero",
            "pipeline: '/dev/zero' is an absolute path: name the pipeline by its path from "
            "this test file's folder (orders.yaml, or flows/orders.yaml below it)",
        ),
        (
            "../outside.yaml",
            "pipeline: '../outside.yaml' is outside this test file's folder (through '..' or "
            "a symlink): a test file tests a pipeline in its own folder or below it",
        ),
        (
            "escape.yaml",
            "pipeline: 'escape.yaml' is outside this test file's folder (through '..' or a "
            "symlink): a test file tests a pipeline in its own folder or below it",
        ),
        ("missing.yaml", "pipeline: no pipeline file 'missing.yaml' in this test file's folder"),
    ],
)
def test_pipeline_names_only_a_pipeline_in_the_test_files_folder(cli, tmp_path, target, message):
    (tmp_path / "outside.yaml").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / ".env").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    (folder / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    test = naming(folder, target)
    result = cli("test", str(test), "--junit", str(tmp_path / "j.xml"))
    assert result.code == 2
    assert result.err == f"{test}:2:1: {message}\n"
    assert SECRET not in (tmp_path / "j.xml").read_text(encoding="utf-8")


def test_a_pipeline_below_the_test_files_folder_is_accepted(cli, tmp_path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "j.yaml").write_text(PIPELINE, encoding="utf-8")
    test = tmp_path / "t.test.yaml"
    test.write_text(
        "version: 1\npipeline: flows/j.yaml\ncases:\n  - name: a\n"
        "    answers: {r: {json: {v: 1}}}\n    expect: {output: 1}\n",
        encoding="utf-8",
    )
    result = cli("test", str(test))
    assert result.code == 0, result.out + result.err


def test_a_yaml_file_that_is_no_pipeline_is_not_quoted(cli, tmp_path):
    (tmp_path / "notes.yaml").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    test = naming(tmp_path, "notes.yaml")
    result = cli("test", str(test), "--format", "json")
    assert result.code == 2
    assert SECRET not in result.out + result.err
    assert json.loads(result.out)["problems"] == [
        f"{tmp_path / 'notes.yaml'}:1:1: a pipeline is a mapping ('key: value' lines) with at "
        "least version, name and steps"
    ]


HOSTILE = """\
version: 1
cases:
  - name: "esc \\e]0;TITLE\\a in name"
    answers:
      r: {json: {v: "a\\e[2J\\0\\x9b\\u2028\\u202e\\uFFFE\\x0c b"}}
    expect:
      output: "nope"
  - name: err
    answers:
      r: {status: 500, body: "x\\e]0;PWN\\a\\0y"}
    expect:
      output: "nope"
"""

RAW = ("\x1b", "\x07", "\x00", "\x9b", "\u2028", "\u202e", "\x0c")


def test_control_characters_are_shown_escaped_and_junit_stays_xml(cli, tmp_path):
    (tmp_path / "j.yaml").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "j.test.yaml").write_text(HOSTILE, encoding="utf-8")
    junit = tmp_path / "j.xml"
    result = cli("test", str(tmp_path / "j.test.yaml"), "--junit", str(junit))
    assert result.code == 1
    assert not any(c in result.out + result.err for c in RAW)
    lines = result.out.splitlines()
    assert lines[0].startswith(
        f"FAIL  {tmp_path / 'j.test.yaml'}: esc \\x1b]0;TITLE\\x07 in name ("
    )
    assert lines[3] == "        + a\\x1b[2J\\x00\\x9b\\u2028\\u202e\\ufffe\\x0c b"
    assert "x\\x1b]0;PWN\\x07\\x00y" in result.out
    root = ET.parse(junit).getroot()  # well-formed: the stdlib parser reads it
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "esc \\x1b]0;TITLE\\x07 in name"
    as_json = cli("test", str(tmp_path / "j.test.yaml"), "--format", "json").out
    assert not any(c in as_json for c in RAW)
    assert json.loads(as_json)["cases"][0]["name"] == "esc \x1b]0;TITLE\x07 in name"


def test_a_204_answer_with_a_body_is_located(cli, tmp_path):
    (tmp_path / "j.yaml").write_text(PIPELINE, encoding="utf-8")
    test = tmp_path / "j.test.yaml"
    test.write_text(
        "version: 1\ncases:\n  - name: a\n    answers:\n      r: {status: 204, json: {v: 1}}\n",
        encoding="utf-8",
    )
    result = cli("test", str(test))
    assert result.code == 2
    assert result.err == (
        f"{test}:5:19: an answer of status 204 has no body (HTTP sends none with it): drop "
        "its json, or give another status\n"
    )


def test_a_test_file_of_too_many_aliases_is_called_a_test_file(cli, tmp_path):
    (tmp_path / "j.yaml").write_text(PIPELINE, encoding="utf-8")
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 8):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [{', '.join(['*' + chr(96 + n)] * 10)}]")
    test = tmp_path / "j.test.yaml"
    test.write_text("\n".join([*lines, "cases: []", ""]), encoding="utf-8")
    result = cli("test", str(test))
    assert result.code == 2
    assert "a test file cannot be this large" in result.err
    assert "pipeline" not in result.err
