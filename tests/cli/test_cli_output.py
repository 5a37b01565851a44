"""run --output FILE: the output written whole, only when the run succeeds."""

from __future__ import annotations

import json
from pathlib import Path

PIPELINE = """\
version: 1
name: maybe
steps:
  - id: check
    if: input.fail
    fail: "asked to fail"
  - id: echo
    set: "${{ input.value }}"
output: {value: "${{ steps.echo }}"}
"""


def test_the_output_goes_to_the_file_not_stdout(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    out = tmp_path / "out.json"
    result = cli("run", path, "--input", '{"value": "ok"}', "--output", str(out))
    assert result.code == 0, result.err
    assert result.out == ""
    assert json.loads(out.read_text()) == {"value": "ok"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


def test_a_failed_run_leaves_the_last_output_in_place(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    out = tmp_path / "out.json"
    out.write_text('{"value": "from the last good run"}\n')
    result = cli(path, "--input", '{"fail": true}', "--output", str(out), prog="run-pipeline")
    assert result.code == 1
    assert result.out == ""
    assert out.read_text() == '{"value": "from the last good run"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hookline-home", "maybe.yaml", "out.json"]


def test_an_output_that_cannot_be_written_fails_with_a_plain_message(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    out = tmp_path / "no-such-dir" / "out.json"
    result = cli("run", path, "--input", '{"value": 1}', "--output", str(out))
    assert result.code == 1
    assert result.err.splitlines()[-1].endswith(
        f"error: cannot write the output to {out}: No such file or directory"
    )


def test_a_dry_run_report_goes_to_the_file(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    out = tmp_path / "report.json"
    result = cli("run", path, "--dry-run", "--input", '{"value": 1}', "--output", str(out))
    assert result.code == 0, result.err
    assert json.loads(out.read_text()) == {"requests": [], "stopped": None}
