"""run-pipeline / hookline run: output on stdout, log on stderr, documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"Nombre","value":"John"},{"name":"Email","value":"john@example.com"}]'


def test_seed_example_reshapes_name_value_pairs_into_airtable_fields(cli):
    result = cli(SEED, "--input", CALL, prog="run-pipeline")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"fields": {"Nombre": "John", "Email": "john@example.com"}}
    assert "airtable_body: ok" in result.err


def test_hookline_run_is_the_same_command(cli):
    result = cli("run", SEED, "--input", CALL)
    assert result.code == 0
    assert json.loads(result.out)["fields"]["Nombre"] == "John"


def test_input_from_a_file_and_from_stdin(cli):
    from_file = cli(
        SEED, "--input", "@" + str(ROOT / "pipelines/inputs/call.json"), prog="run-pipeline"
    )
    from_stdin = cli(SEED, "--input", "-", prog="run-pipeline", stdin=CALL)
    assert from_file.code == from_stdin.code == 0
    assert json.loads(from_file.out) == json.loads(from_stdin.out)


def test_input_breaking_the_input_schema_is_located_and_exits_2(cli):
    result = cli(SEED, "--input", '[{"name":"Nombre"}, 3]', prog="run-pipeline")
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines() == [
        "<input>:1:2: input[0]: missing required key 'value'",
        "<input>:1:21: input[1]: expected a mapping, got 3 (a number)",
    ]


def test_input_that_is_not_json_exits_2(cli):
    result = cli(SEED, "--input", "[{'name': 1}]", prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == (
        "<input>:1:3: the input is not valid JSON: "
        "Expecting property name enclosed in double quotes (JSON writes text in double "
        """quotes: --input '[{"name": 1}]', or put the JSON in a file and pass --input @FILE)"""
    )


def test_missing_input_when_the_trigger_needs_one(cli):
    result = cli(SEED, prog="run-pipeline")
    assert result.code == 2
    assert "this pipeline needs an input" in result.err


def test_missing_file_is_a_usage_error(cli, tmp_path: Path):
    result = cli(str(tmp_path / "nope.yaml"), prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == f"error: {tmp_path / 'nope.yaml'}: no such file"


def test_fail_step_fails_the_run_with_exit_1(cli, write):
    path = write(
        "p.yaml",
        "version: 1\nname: f\nsteps:\n"
        '  - id: check\n    if: "input.email == `null`"\n'
        '    fail: "no email for ${{ input.name }}"\n'
        '  - id: done\n    set: ok\noutput: "${{ steps.done }}"\n',
    )
    failed = cli(path, "--input", '{"name": "Ana"}', prog="run-pipeline")
    assert failed.code == 1
    assert failed.out == ""
    assert "error: step 'check' failed: no email for Ana" in failed.err
    passed = cli(path, "--input", '{"name": "Ana", "email": "a@x"}', prog="run-pipeline")
    assert passed.code == 0
    assert json.loads(passed.out) == "ok"
    assert "check: skipped" in passed.err


def test_usage_error_exits_2(cli):
    result = cli("--log-format", "xml", SEED, prog="run-pipeline")
    assert result.code == 2
    assert "invalid choice: 'xml'" in result.err


def test_input_that_names_a_file_gets_the_at_hint(cli, tmp_path, monkeypatch):
    # Offered only for a file that exists (tests/test_input_walk.py: one that does not).
    (tmp_path / "call.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    result = cli(SEED, "--input", "call.json", prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == (
        "<input>:1:1: the input is not valid JSON: Expecting value "
        "(to read the file call.json, write --input @call.json)"
    )


def test_nan_is_not_json(cli):
    result = cli(SEED, "--input", '[{"name": "n", "value": NaN}]', prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == "<input>:1:1: the input is not valid JSON: NaN is not JSON"
