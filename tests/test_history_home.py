"""Where the history lives: the hookline home, never the current directory by default;
reading it creates nothing and writes nothing."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hookline._home import default_home
from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"Nombre","value":"John"}]'


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({"HOOKLINE_HOME": "/srv/hl", "HOME": "/h"}, "linux", "/srv/hl"),
        ({"HOOKLINE_HOME": ".hookline", "HOME": "/h"}, "linux", ".hookline"),
        ({"XDG_STATE_HOME": "/h/state", "HOME": "/h"}, "linux", "/h/state/hookline"),
        ({"XDG_STATE_HOME": "rel/state", "HOME": "/h"}, "linux", "/h/.local/state/hookline"),
        ({"HOME": "/h"}, "linux", "/h/.local/state/hookline"),
        ({"HOME": "/Users/a"}, "darwin", "/Users/a/Library/Application Support/hookline"),
        (
            {"LOCALAPPDATA": "C:/Users/a/AppData/Local"},
            "win32",
            "C:/Users/a/AppData/Local/hookline",
        ),
    ],
)
def test_default_home(env, platform, expected):
    assert default_home(env, platform) == Path(expected)


def test_the_history_does_not_depend_on_the_current_directory(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("HOOKLINE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for place in ("here", "there"):
        (tmp_path / place).mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert cli("run", SEED, "--input", CALL).code == 0
    monkeypatch.chdir(tmp_path / "there")
    listed = json.loads(cli("runs", "--format", "json").out)
    assert [r["pipeline"] for r in listed] == ["reshape-call-fields"]
    home = tmp_path / "state" / "hookline"
    assert (home / "hookline.db").exists()
    assert (home / "validated").is_dir()  # the validated-files cache shares the home
    assert not (tmp_path / "here" / ".hookline").exists()


def test_a_relative_hookline_home_keeps_one_history_per_project(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKLINE_HOME", ".hookline")
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    assert cli("run", SEED, "--input", CALL).code == 0
    assert (tmp_path / "project" / ".hookline" / "hookline.db").exists()


def test_listing_without_a_history_creates_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("HOOKLINE_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    listed = cli("runs")
    assert listed.code == 0
    assert listed.err.strip() == (
        f"no runs recorded: no run history at {tmp_path / 'state' / 'hookline' / 'hookline.db'}"
    )
    assert not (tmp_path / "state").exists()


def test_listing_reads_a_database_another_process_is_writing(cli, tmp_path):
    """Read-only: no write lock is needed, so a writer holding one does not block it."""
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    with closing(sqlite3.connect(db, isolation_level=None, timeout=0)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        listed = cli("runs", "--db", str(db), "--format", "json")
        shown = cli("runs", "show", json.loads(listed.out)[0]["id"], "--db", str(db))
        writer.execute("ROLLBACK")
    assert listed.code == 0 and shown.code == 0
    assert "status    succeeded" in shown.out


def test_status_filter_accepts_every_status_and_lists_them_when_wrong(cli, tmp_path):
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    for status in ("running", "succeeded", "failed", "interrupted", "lost", "dry-run"):
        result = cli("runs", "--db", str(db), "--status", status, "--format", "json")
        assert result.code == 0, result.err
        assert len(json.loads(result.out)) == (status == "succeeded")
    wrong = cli("runs", "--db", str(db), "--status", "done")
    assert wrong.code == 2
    assert "argument --status: invalid choice: 'done'" in wrong.err
    for status in ("running", "succeeded", "failed", "interrupted", "lost", "dry-run"):
        assert status in wrong.err.split("choose from", 1)[1]


def test_an_empty_database_file_holds_no_runs(cli, tmp_path):
    db = tmp_path / "h.db"
    db.touch()
    listed = cli("runs", "--db", str(db))
    assert (listed.code, listed.out) == (0, "no runs recorded\n")
    shown = cli("runs", "show", "abc", "--db", str(db))
    assert shown.code == 2
    assert shown.err.strip() == f"error: no run with id 'abc' in {db}"
    assert db.read_bytes() == b""


def test_a_corrupt_database_is_an_error_for_the_reader(cli, tmp_path):
    db = tmp_path / "h.db"
    db.write_bytes(b"garbage" * 1000)
    listed = cli("runs", "--db", str(db))
    assert listed.code == 2
    assert listed.err.strip() == f"error: {db}: cannot read the run history: file is not a database"
