"""Pipeline files are bounded: size, kind of file, nesting, and text expanded by aliases."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hookline import _load, _yamlpos

VALID = "version: 1\nname: ok\nsteps:\n  - id: a\n    set: 1\n"


def check(path: str) -> subprocess.CompletedProcess[str]:
    """`hookline check` in its own process, so that a hang fails the test instead of it."""
    code = "import sys; from hookline.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "check", path],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dev_zero_is_refused_at_once(cli):
    result = cli("check", "/dev/zero")
    assert result.code == 2
    assert result.out.splitlines() == [
        "/dev/zero:1:1: is a character device, not a pipeline file: give a regular file"
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_without_a_writer_is_refused_not_waited_for(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    result = check(str(fifo))  # opening it would block for ever
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{fifo}:1:1: is a named pipe (FIFO), not a pipeline file: give a regular file"
    ]


def test_a_file_over_the_size_limit_is_refused_without_reading_it(cli, tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(_load.MAX_PIPELINE_BYTES + 1)  # sparse: nothing is written
    result = cli("check", str(path))
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:1:1: is larger than 4 MiB, the limit for a pipeline file"
    ]


def test_a_file_at_the_size_limit_is_read(cli, tmp_path):
    path = tmp_path / "padded.yaml"
    text = VALID + "#" * (_load.MAX_PIPELINE_BYTES - len(VALID) - 1) + "\n"
    path.write_text(text, encoding="utf-8")
    assert len(text) == _load.MAX_PIPELINE_BYTES
    assert cli("check", str(path)).code == 0


def test_run_pipeline_refuses_dev_zero_too(cli):
    result = cli("/dev/zero", prog="run-pipeline")
    assert result.code == 2
    assert "/dev/zero: is a character device, not a pipeline file" in result.err


def string_alias_bomb() -> str:
    """About 30 KB that passed `check` and expanded to 1.2 GB of text when rendered."""
    lines = ["version: 1", "name: bomb", "x: &s " + "y" * 20_000, "steps:"]
    lines += ["  - id: a", "    set: [" + ", ".join(["*s"] * 60_000) + "]"]
    return "\n".join(lines) + "\n"


def test_aliases_repeating_long_text_are_stopped_by_a_text_budget(cli, write):
    path = write("bomb.yaml", string_alias_bomb())
    result = cli("check", path)
    assert result.code == 2
    # 20,000 characters a time, the anchored text included: the budget of 8 MiB runs out
    # at the 419th alias, column 11 + 4 * 418 of line 6.
    assert result.out.splitlines() == [
        f"{path}:6:1683: the file expands to more than 8 MiB of text (YAML aliases repeating "
        "long values?): a pipeline cannot be this large"
    ]


def test_aliases_within_the_budget_still_work(cli, write):
    path = write(
        "ok.yaml",
        "version: 1\nname: ok\nsteps:\n  - id: a\n    set: &h {Accept: application/json}\n"
        "  - id: b\n    set: [*h, *h]\n",
    )
    assert cli("check", path).code == 0


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "never-closed"])
@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "python"])
def test_deep_flow_collections_are_a_located_error(closed, fast):
    depth = 200_000
    text = "version: 1\nname: deep\nsteps:\n  - id: a\n    set: " + "[" * depth
    text += "]" * depth if closed else ""
    with pytest.raises(_yamlpos.PipelineInvalid) as caught:
        _yamlpos.load_yaml("deep.yaml", text + "\n", fast=fast)
    assert [str(p) for p in caught.value.problems] == [
        "deep.yaml:5:71: the YAML is nested more than 64 levels deep here: a pipeline "
        "cannot nest this deep"
    ]


def test_nesting_at_the_limit_is_accepted():
    # The top mapping, the steps list and the step are three levels: 61 more is 64.
    text = "version: 1\nname: deep\nsteps:\n  - id: a\n    set: " + "[" * 61 + "]" * 61 + "\n"
    assert _yamlpos.load_yaml("ok.yaml", text).data["steps"][0]["set"] is not None


def test_aliases_nesting_past_the_limit_are_stopped_at_the_alias():
    # Each anchored list is 30 levels deep: one alias inside another reaches past 64.
    inner = "[" * 30 + "x" + "]" * 30
    text = (
        "version: 1\nname: deep\nsteps:\n  - id: a\n"
        f"    set: &a {inner}\n"
        f"  - id: b\n    set: &b {'[' * 30}*a{']' * 30}\n"
        f"  - id: c\n    set: {'[' * 10}*b{']' * 10}\n"
    )
    with pytest.raises(_yamlpos.PipelineInvalid) as caught:
        _yamlpos.load_yaml("deep.yaml", text)
    assert [str(p) for p in caught.value.problems] == [
        "deep.yaml:9:20: the YAML is nested more than 64 levels deep here: a pipeline "
        "cannot nest this deep"
    ]
