"""The run history: what is stored, how it is listed, and concurrent writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"Nombre","value":"John"}]'


def test_runs_are_listed_filtered_and_shown(cli, tmp_path, write):
    db = str(tmp_path / "h.db")
    assert cli("run", SEED, "--input", CALL, "--db", db).code == 0
    failing = write(
        "fails.yaml", "version: 1\nname: fails\nsteps:\n  - id: stop\n    fail: not today\n"
    )
    assert cli("run", failing, "--db", db).code == 1

    listed = cli("runs", "--db", db)
    assert listed.code == 0
    rows = listed.out.splitlines()
    assert rows[0].split() == ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "ERROR"]
    assert "fails" in rows[1] and "failed" in rows[1]  # newest first
    assert "step 'stop' failed: not today" in rows[1]
    assert "reshape-call-fields" in rows[2] and "succeeded" in rows[2]

    only_failed = json.loads(cli("runs", "--db", db, "--status", "failed", "--format", "json").out)
    assert [r["pipeline"] for r in only_failed] == ["fails"]
    by_name = json.loads(
        cli("runs", "--db", db, "--pipeline", "reshape-call-fields", "--format", "json").out
    )
    assert len(by_name) == 1
    assert by_name[0]["input"] == [{"name": "Nombre", "value": "John"}]
    assert by_name[0]["output"] == {"fields": {"Nombre": "John"}}

    shown = cli("runs", "show", by_name[0]["id"][:8], "--db", db)
    assert shown.code == 0
    assert "status    succeeded" in shown.out
    assert "airtable_body: ok" in shown.out
    assert '"Nombre": "John"' in shown.out


def test_unknown_run_id_is_a_usage_error(cli, tmp_path):
    db = str(tmp_path / "h.db")
    assert cli("run", SEED, "--input", CALL, "--db", db).code == 0
    result = cli("runs", "show", "doesnotexist", "--db", db)
    assert result.code == 2
    assert "no run with id 'doesnotexist'" in result.err


def test_reading_history_never_creates_it(cli, tmp_path):
    db = tmp_path / "none" / "h.db"
    listed = cli("runs", "--db", str(db))
    assert listed.code == 0
    assert listed.err.strip() == f"no runs recorded: no run history at {db}"
    shown = cli("runs", "show", "abc", "--db", str(db))
    assert shown.code == 2
    assert not db.parent.exists()


def test_history_file_is_private(cli, tmp_path):
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    assert db.stat().st_mode & 0o777 == 0o600


def test_default_location_follows_hookline_home(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOOKLINE_HOME", str(home))
    assert cli("run", SEED, "--input", CALL).code == 0
    assert (home / "hookline.db").exists()


def test_concurrent_runs_in_several_processes_all_land(tmp_path):
    """Four processes, 15 runs each, one database: 60 complete runs, no corruption."""
    db = tmp_path / "shared.db"
    # Runs of one pipeline wait for each other unless its concurrency lets them overlap.
    seed = tmp_path / "overlapping.yaml"
    seed.write_text(
        Path(SEED)
        .read_text(encoding="utf-8")
        .replace("version: 1\n", "version: 1\nconcurrency: 4\n", 1),
        encoding="utf-8",
    )
    script = textwrap.dedent(f"""
        import sys
        from hookline.cli import main
        for _ in range(15):
            code = main(["run", {str(seed)!r}, "--input", {CALL!r}, "--db", {str(db)!r}, "-q"])
            assert code == 0, code
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    # closing(): a sqlite3 connection's own "with" commits but does not close it, and an
    # unclosed connection is a ResourceWarning (an error here) on Python 3.13.
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        statuses = conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    assert statuses == [("succeeded", 60)]
