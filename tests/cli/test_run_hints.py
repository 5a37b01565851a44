"""The line a failed run prints (``failed; see: hookline runs show ID``) is a command that
works as printed: it carries the ``--env-file`` and ``--db`` the run used, which may have
put the history elsewhere than the default home."""

from __future__ import annotations

from pathlib import Path

import pytest

FAILS = """\
version: 1
name: fails
steps:
  - id: stop
    fail: "asked to fail"
"""


def _hint(err: str) -> list[str]:
    line = next(x for x in err.splitlines() if "failed; see: " in x)
    return line.split("failed; see: hookline ", 1)[1].split()


def test_the_hint_carries_the_env_file_that_moved_the_history(
    cli, write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The user's home is empty; the project's .env puts the history in the project.
    monkeypatch.delenv("HOOKLINE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "user" / "state"))
    env_file = write(".env", f"HOOKLINE_HOME={tmp_path / 'project-home'}\n")
    result = cli("--env-file", env_file, "run", write("fails.yaml", FAILS))
    assert result.code == 1
    argv = _hint(result.err)
    assert argv[:2] == ["runs", "show"] and argv[3:] == ["--env-file", env_file]
    shown = cli(*argv)  # the command as printed
    assert shown.code == 0, shown.err
    assert "fails" in shown.out and "asked to fail" in shown.out


def test_the_hint_carries_both_env_file_and_db(cli, write, tmp_path: Path):
    env_file = write("cfg.env", "REGION=eu\n")
    db = str(tmp_path / "elsewhere.db")
    result = cli("run", write("fails.yaml", FAILS), "--db", db, "--env-file", env_file)
    assert result.code == 1
    argv = _hint(result.err)
    assert argv[3:] == ["--env-file", env_file, "--db", db]
    assert cli(*argv).code == 0
