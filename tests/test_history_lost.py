"""A run whose process died is shown as lost, not running forever; the next run marks
it so in the database. Also: a schema 1 database is read as it is and migrated by the
next run."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import closing

from history_support import silent_server, start_stuck_run, statuses, wait_for
from hookline._load import load_pipeline
from hookline._store import SCHEMA_VERSION, Store
from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"Nombre","value":"John"}]'

# The tables as hookline wrote them at schema version 1.
SCHEMA_1 = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, file TEXT NOT NULL, digest TEXT NOT NULL,
    trigger TEXT NOT NULL, input TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, duration_ms REAL, output TEXT, error TEXT
);
CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL, step_id TEXT NOT NULL,
    status TEXT NOT NULL, duration_ms REAL, result TEXT, error TEXT
);
CREATE INDEX steps_by_run ON steps (run_id, seq);
CREATE TABLE attempts (
    run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL, step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL, duration_ms REAL, request TEXT, response TEXT, error TEXT
);
CREATE INDEX attempts_by_run ON attempts (run_id, seq);
PRAGMA user_version=1;
"""


def _stamp(seconds_ago: float) -> str:
    t = time.gmtime(time.time() - seconds_ago)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", t)


def test_a_killed_run_is_lost_and_the_next_run_records_it(cli, tmp_path):
    with silent_server() as (port, arrived):
        proc, db = start_stuck_run(tmp_path, port)
        wait_for(arrived, proc)
        alive = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
        assert [r["status"] for r in alive] == ["running"]  # its pid is alive here
        assert alive[0]["pid"] == proc.pid
        proc.kill()
        proc.communicate(timeout=30)

    listed = cli("runs", "--db", str(db))
    assert listed.code == 0
    row = listed.out.splitlines()[1]
    assert "stuck" in row and " lost " in row
    reason = f"lost: its process (pid {proc.pid} on {socket.gethostname()}) ended"
    assert reason in row
    assert statuses(db) == [("running", None)]  # reading changed nothing

    only_lost = json.loads(cli("runs", "--db", str(db), "--status", "lost", "--format", "json").out)
    assert [r["pipeline"] for r in only_lost] == ["stuck"]
    running = json.loads(
        cli("runs", "--db", str(db), "--status", "running", "--format", "json").out
    )
    assert running == []

    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0  # opens read-write
    [lost, done] = statuses(db)
    assert lost[0] == "lost"
    assert lost[1] is not None and lost[1].startswith(reason)
    assert done == ("succeeded", None)


def test_a_stale_heartbeat_from_another_host_is_lost(cli, tmp_path):
    db = tmp_path / "h.db"
    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    now = time.time()
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        for run_id, beat in (("stale0", now - 120), ("fresh0", now - 5)):
            conn.execute(
                "INSERT INTO runs (id, pipeline, file, digest, trigger, status, started_at,"
                " pid, host, heartbeat_at) VALUES (?, ?, 'p.yaml', 'd', 'manual', 'running',"
                " ?, 1, 'elsewhere', ?)",
                (run_id, run_id, _stamp(now - beat + 1), beat),
            )
    shown = cli("runs", "show", "stale0", "--db", str(db))
    assert "status    lost" in shown.out
    assert "process   pid 1 on elsewhere" in shown.out
    assert "error: lost: no sign of life from its process (pid 1 on elsewhere) for 120s" in (
        shown.out
    )
    fresh = cli("runs", "show", "fresh0", "--db", str(db))
    assert "status    running" in fresh.out


def test_a_schema_1_database_is_read_as_it_is_and_migrated_by_the_next_run(cli, tmp_path):
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.executescript(SCHEMA_1)
        conn.execute(
            "INSERT INTO runs VALUES ('old1', 'legacy', 'l.yaml', 'd', 'manual', NULL,"
            " 'running', ?, NULL, NULL, NULL, NULL)",
            (_stamp(7200),),
        )
        conn.execute(
            "INSERT INTO runs VALUES ('old2', 'legacy', 'l.yaml', 'd', 'manual', '[1]',"
            " 'succeeded', ?, ?, 12.5, '{\"ok\": true}', NULL)",
            (_stamp(3600), _stamp(3599)),
        )

    listed = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
    assert [(r["id"], r["status"]) for r in listed] == [("old2", "succeeded"), ("old1", "lost")]
    assert listed[0]["output"] == {"ok": True}
    with closing(sqlite3.connect(db)) as conn:  # a reader never migrates
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1

    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        new = conn.execute("SELECT pid, host FROM runs WHERE pipeline != 'legacy'").fetchone()
        old = conn.execute("SELECT status, output FROM runs WHERE id = 'old1'").fetchone()
    assert columns[-3:] == ["pid", "host", "heartbeat_at"]
    assert new == (os.getpid(), socket.gethostname())
    assert old[0] == "lost"
    listed = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
    assert [r["status"] for r in listed] == ["succeeded", "succeeded", "lost"]


def test_a_live_run_keeps_its_heartbeat_and_takes_back_a_lost_mark(tmp_path):
    """The heartbeat thread, quickened: it stamps the run, and a run a reader marked lost
    while its process was suspended is set back to running."""
    db = tmp_path / "h.db"
    pipeline = load_pipeline(SEED)
    with Store(db, heartbeat_seconds=0.05) as store:
        store.run_started("beat1", pipeline, "manual", None)
        with closing(sqlite3.connect(db, isolation_level=None)) as conn:
            first = conn.execute("SELECT heartbeat_at FROM runs").fetchone()[0]
            conn.execute("UPDATE runs SET status = 'lost', error = 'lost: suspended'")
            deadline = time.monotonic() + 30
            row = ("lost", "lost: suspended", first)
            while row[0] == "lost" and time.monotonic() < deadline:
                time.sleep(0.02)
                row = conn.execute("SELECT status, error, heartbeat_at FROM runs").fetchone()
        assert row[:2] == ("running", None)
        assert row[2] > first
        store.run_finished("beat1", "succeeded", {"ok": 1}, None)
    assert statuses(db) == [("succeeded", None)]
