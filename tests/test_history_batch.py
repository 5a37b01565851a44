"""The run history's batched writes by one writer thread, headers and long bodies kept
once by content hash, and the migration of version 2 databases."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from history_support import silent_server, wait_for
from hookline._load import load_pipeline
from hookline._store import SCHEMA_VERSION, Store
from hookline._store_read import History
from servers.rest_app import RestServer
from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")

# The statements of schema version 2, as an earlier hookline created them.
SCHEMA_2 = """
CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, file TEXT NOT NULL,
    digest TEXT NOT NULL, trigger TEXT NOT NULL, input TEXT, status TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, duration_ms REAL, output TEXT, error TEXT,
    pid INTEGER, host TEXT, heartbeat_at REAL);
CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE steps (run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL,
    step_id TEXT NOT NULL, status TEXT NOT NULL, duration_ms REAL, result TEXT, error TEXT);
CREATE INDEX steps_by_run ON steps (run_id, seq);
CREATE TABLE attempts (run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL,
    step_id TEXT NOT NULL, attempt INTEGER NOT NULL, duration_ms REAL, request TEXT,
    response TEXT, error TEXT);
CREATE INDEX attempts_by_run ON attempts (run_id, seq);
PRAGMA user_version = 2;
"""

OLD_REQUEST = {"method": "GET", "url": "http://old.example/x", "headers": {"A": "1"}, "body": None}
OLD_RESPONSE = {"status": 200, "headers": {"B": "2"}, "body": '{"old": true}'}


def test_a_version_2_database_is_migrated_and_its_runs_still_read(cli, tmp_path):
    db = tmp_path / "v2.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.executescript(SCHEMA_2)
        conn.execute(
            "INSERT INTO runs VALUES ('old2', 'legacy', 'l.yaml', 'd', 'manual', NULL,"
            " 'succeeded', '2026-01-01T00:00:00.00Z', '2026-01-01T00:00:01.00Z', 5.0,"
            " '{\"ok\": 1}', NULL, 1, 'elsewhere', 0)"
        )
        conn.execute("INSERT INTO steps VALUES ('old2', 2, 'fetch', 'ok', 4.0, '{\"r\": 1}', NULL)")
        conn.execute(
            "INSERT INTO attempts VALUES ('old2', 1, 'fetch', 1, 3.0, ?, ?, NULL)",
            (json.dumps(OLD_REQUEST), json.dumps(OLD_RESPONSE)),
        )

    assert cli("run", SEED, "--input", '[{"name":"a","value":"b"}]', "--db", str(db)).code == 0
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"iterations", "blobs"} <= tables

    old = json.loads(cli("runs", "show", "old2", "--db", str(db), "--format", "json").out)
    assert old["steps"][0]["result"] == {"r": 1}
    assert old["attempts"][0]["request"] == OLD_REQUEST
    assert old["attempts"][0]["response"] == OLD_RESPONSE
    assert old["iterations"] == []
    shown = cli("runs", "show", "old2", "--db", str(db)).out
    assert "→ GET http://old.example/x" in shown and '{"old": true}' in shown
    listed = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
    assert [r["status"] for r in listed] == ["succeeded", "succeeded"]


def _attempt(i: int, body: str) -> dict:
    return {
        "attempt": 1,
        "duration_ms": 1.0,
        "request": {
            "method": "GET",
            "url": f"http://127.0.0.1/item/{i}",
            "headers": {"Accept": "*/*", "User-Agent": "hookline", "X-Pad": "p" * 200},
            "body": None,
        },
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json", "X-Pad": "q" * 200},
            "body": body,
        },
        "error": None,
    }


def test_identical_header_sets_and_bodies_are_stored_once(tmp_path):
    db = tmp_path / "h.db"
    pipeline = load_pipeline(SEED)
    big = json.dumps({"pad": "z" * 5000})  # long enough to be kept by content hash
    with Store(db) as store:
        store.run_started("r1", pipeline, "manual", None)
        for i in range(3):
            store.step_attempt("r1", "fetch", _attempt(i, big))
        store.run_finished("r1", "succeeded", None, None)
    with closing(sqlite3.connect(db)) as conn:
        blobs = conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert blobs == 3  # three requests, one copy of each header set and of the body
    with History(db) as history:
        attempts = history.get_run("r1")["attempts"]
    assert [a["request"]["url"] for a in attempts] == [
        f"http://127.0.0.1/item/{i}" for i in range(3)
    ]
    assert attempts[2]["request"]["headers"]["X-Pad"] == "p" * 200
    assert attempts[2]["response"] == _attempt(2, big)["response"]


def test_a_write_error_in_the_writer_thread_turns_the_history_off_with_one_warning(tmp_path):
    db = tmp_path / "h.db"
    pipeline = load_pipeline(SEED)
    warnings: list[str] = []
    # 0.15 MiB holds the tables and the run, not 50 distinct incompressible bodies.
    with Store(db, warn=warnings.append, max_mb=0.15) as store:
        store.run_started("r1", pipeline, "manual", None)
        assert warnings == []
        for i in range(50):
            body = os.urandom(8 * 1024).hex()
            store.step_attempt("r1", "fetch", _attempt(i, body))
        store.run_finished("r1", "succeeded", None, None)  # does not wait on a dead writer
        assert not store.enabled
    assert len(warnings) == 1
    assert warnings[0].startswith(f"run history off for this run: {db}: database or disk is full")
    assert "HOOKLINE_HISTORY_MAX_MB" in warnings[0]


PIPELINE = """\
version: 1
name: interrupted-loop
connections:
  api:
    rest: {{base_url: "{url}"}}
  slow:
    rest: {{base_url: "http://127.0.0.1:{port}", timeout: 120s}}
steps:
  - id: each
    for_each:
      items: input
      steps:
        - id: fast
          rest: {{connection: api, method: GET, path: /status/200}}
        - id: stuck
          if: "${{{{ index == `9` }}}}"
          rest: {{connection: slow, method: GET, path: /never}}
"""


def test_sigterm_writes_every_batched_record_before_closing_the_run(tmp_path):
    """The records of the iterations before the stuck one are still in the writer's batch
    when SIGTERM arrives: they are written before the run is closed as interrupted."""
    db = tmp_path / "h.db"
    path = tmp_path / "loop.yaml"
    with RestServer() as api, silent_server() as (port, arrived):
        path.write_text(PIPELINE.format(url=api.url, port=port), encoding="utf-8")
        code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                str(path),
                "--db",
                str(db),
                "--input",
                json.dumps(list(range(10))),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
        )
        wait_for(arrived, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert proc.returncode != 0
    with History(db) as history:
        (listed,) = history.list_runs()
        run = history.get_run(listed["id"])
    assert (run["status"], run["error"]) == ("interrupted", "interrupted by SIGTERM")
    fast = sorted(a["loop_index"] for a in run["attempts"] if a["step_id"] == "fast")
    assert fast == list(range(10))
    done = sorted(it["idx"] for it in run["iterations"] if it["status"] == "ok")
    assert done == list(range(9))
    stopped = [(it["idx"], it["status"], it["error"]) for it in run["iterations"]]
    assert stopped[9:] == [(9, "interrupted", "interrupted by SIGTERM")]


def test_records_are_all_written_when_a_run_ends_normally(tmp_path):
    db = Path(tmp_path / "h.db")
    pipeline = load_pipeline(SEED)
    with Store(db) as store:
        store.run_started("r1", pipeline, "manual", None)
        for i in range(1200):  # more than one batch
            store.step_finished("r1", f"s{i}", "ok", 0.001, {"i": i}, None, loop=("each", i))
            store.iteration_finished("r1", "each", i, "ok", 0.001, i, i, None)
        store.run_finished("r1", "succeeded", None, None)
        # Before the store is closed: the final status is written after every record.
        with closing(sqlite3.connect(db)) as conn:
            steps = conn.execute("SELECT count(*) FROM step_records").fetchone()[0]
            iterations = conn.execute("SELECT count(*) FROM iteration_records").fetchone()[0]
            status = conn.execute("SELECT status FROM runs").fetchone()[0]
    assert (steps, iterations, status) == (1200, 1200, "succeeded")


ANSWER = """\
version: 1
name: answer
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: get
    rest: {{connection: api, method: GET, path: /status/200}}
  - id: text
    rest: {{connection: api, method: GET, path: /text}}
output: {{get: "${{{{ steps.get }}}}", text: "${{{{ steps.text }}}}"}}
"""


def test_a_step_result_that_is_its_answer_is_stored_once_and_read_back_whole(cli, tmp_path):
    db = tmp_path / "h.db"
    path = tmp_path / "answer.yaml"
    with RestServer() as api:
        path.write_text(ANSWER.format(url=api.url), encoding="utf-8")
        ran = cli("run", str(path), "--db", str(db))
    assert ran.code == 0, ran.err
    output = json.loads(ran.out)
    with closing(sqlite3.connect(db)) as conn:
        kept = conn.execute("SELECT texts, same FROM step_records ORDER BY seq").fetchall()
    assert kept == [(None, -2), (None, -1)]  # JSON body, text body: the answers only
    run = json.loads(cli("runs", "--db", str(db), "--format", "json").out)[0]
    shown = json.loads(cli("runs", "show", run["id"], "--db", str(db), "--format", "json").out)
    assert [s["result"] for s in shown["steps"]] == [output["get"], output["text"]]
