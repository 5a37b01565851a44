"""run --output FILE: the output written whole, only when the run succeeds."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.rest_app import RestServer

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


SENDS = """\
version: 1
name: sends
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: post
    rest: {{connection: api, method: POST, path: /echo, json: {{a: 1}}}}
output: "${{{{ steps.post.status }}}}"
"""


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


def test_an_output_folder_that_does_not_exist_is_refused_before_anything_is_sent(
    cli, write, tmp_path: Path, api: RestServer
):
    path = write("sends.yaml", SENDS.format(url=api.url))
    out = tmp_path / "no-such-dir" / "out.json"
    before = len(api.requests)
    result = cli("run", path, "--output", str(out))
    assert result.code == 2
    assert result.err == (f"error: --output {out}: the folder {str(out.parent)!r} does not exist\n")
    assert len(api.requests) == before  # nothing sent
    assert cli("runs").err.startswith("no runs recorded")  # none recorded as succeeded


def test_an_output_path_under_a_file_or_naming_a_folder_is_refused(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    (tmp_path / "plain").write_text("x")
    result = cli("run", path, "--input", '{"value": 1}', "--output", str(tmp_path / "plain" / "o"))
    assert (result.code, result.err) == (
        2,
        f"error: --output {tmp_path / 'plain' / 'o'}: {str(tmp_path / 'plain')!r} is not a folder\n",
    )
    result = cli("run", path, "--input", '{"value": 1}', "--output", str(tmp_path))
    assert (result.code, result.err) == (
        2,
        f"error: --output {tmp_path}: is a folder; name a file in it\n",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_output_folder_that_is_not_writable_is_refused(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = cli("run", path, "--input", '{"value": 1}', "--output", str(folder / "o.json"))
    assert (result.code, result.err) == (
        2,
        f"error: --output {folder / 'o.json'}: the folder {str(folder)!r} is not writable\n",
    )


def test_the_output_keeps_an_existing_files_mode_and_a_new_file_gets_the_umasks(
    cli, write, tmp_path: Path
):
    path = write("maybe.yaml", PIPELINE)
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o644)
    assert cli("run", path, "--input", '{"value": 1}', "--output", str(kept)).code == 0
    assert stat.S_IMODE(kept.stat().st_mode) == 0o644
    assert json.loads(kept.read_text()) == {"value": 1}
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "fresh.json"
        assert cli("run", path, "--input", '{"value": 1}', "--output", str(fresh)).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_a_dry_run_report_goes_to_the_file(cli, write, tmp_path: Path):
    path = write("maybe.yaml", PIPELINE)
    out = tmp_path / "report.json"
    result = cli("run", path, "--dry-run", "--input", '{"value": 1}', "--output", str(out))
    assert result.code == 0, result.err
    assert json.loads(out.read_text()) == {"requests": [], "stopped": None}
