"""A history that cannot be written costs one warning, never the run's result.

Each case: the run still prints its output on stdout and exits 0, stderr holds exactly
one warning naming the database and the reason, and the history stays off for the rest
of the run (no second warning).
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"Nombre","value":"John"}]'
OUTPUT = {"fields": {"Nombre": "John"}}


def warning_for(db: Path, reason: str) -> str:
    return (
        f"warning: run history off for this run: {db}: {reason}; the run goes on and its "
        "output is not affected"
    )


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_a_corrupt_database_is_a_warning_and_the_output_still_arrives(cli, tmp_path):
    db = tmp_path / "h.db"
    garbage = bytes(range(256)) * 64
    db.write_bytes(garbage)
    result = cli("run", SEED, "--input", CALL, "--db", str(db), "--quiet")
    assert result.code == 0
    assert json.loads(result.out) == OUTPUT
    assert warnings(result.err) == [warning_for(db, "file is not a database")]  # even with -q
    assert db.read_bytes() == garbage  # left as it was, for its owner to look at


def test_a_database_locked_by_another_process_is_a_warning(cli, tmp_path, monkeypatch):
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    monkeypatch.setenv("HOOKLINE_HISTORY_TIMEOUT", "0.2")
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        result = cli("run", SEED, "--input", CALL, "--db", str(db))
        holder.execute("ROLLBACK")
    assert result.code == 0
    assert json.loads(result.out) == OUTPUT
    assert warnings(result.err) == [
        warning_for(db, "database is locked (held by another process for over 0.2s)")
    ]
    listed = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
    assert [run["status"] for run in listed] == ["succeeded"]  # the locked run left no trace


def test_a_database_under_a_file_is_a_warning(cli, tmp_path):
    """A place where no directory can be made (works as root, unlike chmod)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    db = blocker / "h.db"
    result = cli("run", SEED, "--input", CALL, "--db", str(db))
    assert result.code == 0
    assert json.loads(result.out) == OUTPUT
    assert warnings(result.err) == [warning_for(db, f"{blocker} is a file, not a directory")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod")
def test_a_read_only_directory_is_a_warning(cli, tmp_path):
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o500)
    try:
        result = cli("run", SEED, "--input", CALL, "--db", str(home / "h.db"))
    finally:
        home.chmod(0o700)
    assert result.code == 0
    assert json.loads(result.out) == OUTPUT
    assert len(warnings(result.err)) == 1
    assert "run history off for this run" in result.err


def test_a_full_database_is_a_warning(cli, tmp_path, monkeypatch):
    """PRAGMA max_page_count stands in for a full disk: the same SQLITE_FULL error."""
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE filler (b BLOB)")
        conn.execute("INSERT INTO filler VALUES (zeroblob(1200000))")
    monkeypatch.setenv("HOOKLINE_HISTORY_MAX_MB", "1")
    big = json.dumps([{"name": "Nombre", "value": "x" * 20000}])
    result = cli("run", SEED, "--input", big, "--db", str(db))
    assert result.code == 0
    assert json.loads(result.out) == {"fields": {"Nombre": "x" * 20000}}
    assert warnings(result.err) == [
        warning_for(
            db,
            "database or disk is full (the disk is full or the history reached its cap of "
            "1 MiB, HOOKLINE_HISTORY_MAX_MB)",
        )
    ]


def test_a_database_from_a_newer_hookline_is_left_alone(cli, tmp_path):
    db = tmp_path / "h.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version=99")
    result = cli("run", SEED, "--input", CALL, "--db", str(db))
    assert result.code == 0
    assert json.loads(result.out) == OUTPUT
    assert warnings(result.err) == [
        warning_for(db, "it was written by a newer hookline (schema 99)")
    ]
    shown = cli("runs", "--db", str(db))
    assert shown.code == 2
    assert shown.err.strip() == f"error: {db}: run history written by a newer hookline (schema 99)"


def test_the_warning_is_a_json_event_in_json_logs(cli, tmp_path):
    db = tmp_path / "h.db"
    db.write_bytes(b"\x00garbage" * 100)
    result = cli("run", SEED, "--input", CALL, "--db", str(db), "--log-format", "json")
    assert result.code == 0
    [event] = [json.loads(line) for line in result.err.splitlines() if "history_off" in line]
    assert event["level"] == "warning"
    assert event["message"] == warning_for(db, "file is not a database")


def test_a_bad_history_setting_is_a_usage_error(cli, monkeypatch):
    monkeypatch.setenv("HOOKLINE_HISTORY_TIMEOUT", "soon")
    result = cli("run", SEED, "--input", CALL)
    assert result.code == 2
    assert result.err.strip() == "error: HOOKLINE_HISTORY_TIMEOUT='soon': expected a number >= 0"
