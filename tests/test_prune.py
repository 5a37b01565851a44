"""``hookline runs prune``: old runs go with everything recorded under them; what other
runs still use, running runs and runs serve will resume stay."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hookline import _locks, _prune
from hookline._store_schema import SCHEMA_VERSION

PIPELINE = """\
version: 1
name: {name}
connections:
  api:
    rest: {{base_url: "http://127.0.0.1:{port}"}}
steps:
  - id: fetch
    rest: {{connection: api, method: GET, path: "/items/${{{{ input.n }}}}"}}
output: "${{{{ steps.fetch.body.n }}}}"
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        n = self.path.rsplit("/", 1)[1]
        # Long enough to be kept as a blob, and different for every run.
        body = json.dumps({"n": n, "text": f"answer {n} " * 600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def api() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def history(cli, tmp_path):
    """Runs of two pipelines; returns (run ids by pipeline oldest first, db path)."""
    db = tmp_path / "hookline-home" / "hookline.db"
    ids: dict[str, list[str]] = {"alpha": [], "beta": []}
    with api() as port:
        for name, count in (("alpha", 4), ("beta", 2)):
            path = tmp_path / f"{name}.yaml"
            path.write_text(PIPELINE.format(name=name, port=port), encoding="utf-8")
            for n in range(count):
                result = cli(
                    str(path), "--input", json.dumps({"n": f"{name}{n}"}), prog="run-pipeline"
                )
                assert result.code == 0, result.err
    listed = json.loads(cli("runs", "--format", "json", "--limit", "100").out)
    for run in reversed(listed):
        ids[run["pipeline"]].append(run["id"])
    return ids, db


def age(db: Path, run_id: str, days: float) -> None:
    """Make a run look as if it started ``days`` ago."""
    started = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE runs SET started_at = ? WHERE id = ?", (started, run_id))


def listed(cli) -> list[str]:
    return [r["id"] for r in json.loads(cli("runs", "--format", "json", "--limit", "100").out)]


def count(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_keep_days_deletes_old_runs_and_what_only_they_used(cli, history):
    ids, db = history
    for run_id in ids["alpha"][:2]:
        age(db, run_id, 31)
    blobs_before = count(db, "blobs")
    blocks_before = count(db, "blocks")
    result = cli("runs", "prune", "--keep-days", "30")
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == "deleted 2 runs (older than 30 days); 4 kept"
    assert sorted(listed(cli)) == sorted(ids["alpha"][2:] + ids["beta"])
    gone = cli("runs", "show", ids["alpha"][0])
    assert gone.code == 2
    # The kept runs read back whole: the headers they share with deleted runs stayed.
    kept = json.loads(cli("runs", "show", ids["alpha"][2], "--format", "json").out)
    [attempt] = kept["attempts"]
    assert attempt["response"]["headers"]["Content-Type"] == "application/json"
    assert json.loads(attempt["response"]["body"])["n"] == "alpha2"
    # Each deleted run's own answer (a blob) and its records' block went with it. A set of
    # response headers only they used goes too: the server's Date header changes with the
    # second, so whether the deleted runs share theirs with a kept run depends on timing.
    assert blobs_before - 3 <= count(db, "blobs") <= blobs_before - 2
    assert count(db, "blocks") == blocks_before - 2


def test_keep_runs_is_per_pipeline(cli, history):
    ids, _ = history
    result = cli("runs", "prune", "--keep-runs", "1", "--keep-days", "0")
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == (
        "deleted 4 runs (past the 1 newest of their pipeline); 2 kept"
    )
    assert sorted(listed(cli)) == sorted([ids["alpha"][-1], ids["beta"][-1]])


def test_pipeline_and_dry_run(cli, history):
    ids, db = history
    for run_id in ids["alpha"] + ids["beta"]:
        age(db, run_id, 40)
    dry = cli("runs", "prune", "--pipeline", "beta", "--dry-run")
    assert dry.err == "would delete 2 runs (older than 30 days, of pipeline 'beta'); 4 kept\n"
    assert len(listed(cli)) == 6
    assert cli("runs", "prune", "--pipeline", "beta").code == 0
    assert sorted(listed(cli)) == sorted(ids["alpha"])


def test_everything_pruned_leaves_no_record_behind(cli, history):
    ids, db = history
    for run_id in ids["alpha"] + ids["beta"]:
        age(db, run_id, 40)
    assert cli("runs", "prune").code == 0  # the default: 30 days
    assert listed(cli) == []
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in ("steps", "attempts", "iterations", "blobs", "blocks", *_prune._RECORDS):
        if table in tables:
            assert count(db, table) == 0, table


def test_the_environment_sets_the_default(cli, history, monkeypatch):
    ids, db = history
    age(db, ids["beta"][0], 8)
    monkeypatch.setenv("HOOKLINE_KEEP_DAYS", "7")
    result = cli("runs", "prune")
    assert result.err.splitlines()[0] == "deleted 1 run (older than 7 days); 5 kept"
    monkeypatch.setenv("HOOKLINE_KEEP_DAYS", "a week")
    bad = cli("runs", "prune")
    assert bad.code == 2
    assert bad.err == "error: HOOKLINE_KEEP_DAYS='a week': expected a whole number of 0 or more\n"
    off = cli("runs", "prune", "--keep-days", "0")
    assert off.code == 2
    assert off.err == (
        "error: nothing to prune: --keep-days and --keep-runs are both 0 (no limit); give one "
        "of them\n"
    )


def test_a_running_run_is_never_deleted_and_a_writer_keeps_the_blobs(cli, history, tmp_path):
    ids, db = history
    for run_id in ids["alpha"] + ids["beta"]:
        age(db, run_id, 40)
    with closing(sqlite3.connect(db)) as conn, conn:  # as a live run shows it
        conn.execute("UPDATE runs SET status = 'running' WHERE id = ?", (ids["beta"][0],))
    blobs = count(db, "blobs")
    with _locks.HistoryShare(db):  # a process writing the history
        result = cli("runs", "prune")
    assert result.err.splitlines()[:2] == [
        "deleted 5 runs (older than 30 days); 1 kept",
        "stored headers and bodies were left in place: a hookline process is writing the "
        "history (serve, or a run); the next prune while none is removes those no run "
        "refers to",
    ]
    assert listed(cli) == [ids["beta"][0]]
    assert count(db, "blobs") == blobs
    assert cli("runs", "prune").code == 0  # now alone: the blobs of deleted runs go
    assert count(db, "blobs") < blobs


def test_a_run_serve_will_retry_is_kept(cli, history):
    from hookline.serve._intake_store import TABLES

    ids, db = history
    for run_id in ids["alpha"]:
        age(db, run_id, 40)
    with closing(sqlite3.connect(db)) as conn, conn:
        for statement in TABLES:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO deliveries (run_id, pipeline, trigger, received_at, status, last_run)"
            " VALUES ('d1', 'alpha', 'webhook', 0, 'retry-wait', ?)",
            (ids["alpha"][0],),
        )
    assert cli("runs", "prune").code == 0
    assert sorted(listed(cli)) == sorted([ids["alpha"][0], *ids["beta"]])


def test_vacuum_gives_the_space_back(cli, history):
    ids, db = history
    for run_id in ids["alpha"] + ids["beta"]:
        age(db, run_id, 40)
    result = cli("runs", "prune", "--vacuum")
    assert result.code == 0
    assert "vacuuming the database (it is locked until this ends)" in result.err
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_no_history_is_nothing_to_prune(cli, tmp_path):
    result = cli("runs", "prune", "--db", str(tmp_path / "none.db"))
    assert result.code == 0
    assert result.err == f"nothing to prune: no run history at {tmp_path / 'none.db'}\n"
    assert not (tmp_path / "none.db").exists()


def test_prune_knows_every_table_of_the_schema():
    """A new schema version may add tables that hold a run's records: read it and update
    _prune's table lists (then KNOWN_SCHEMA)."""
    assert SCHEMA_VERSION <= _prune.KNOWN_SCHEMA


def test_a_database_that_cannot_be_pruned_is_one_clear_line(cli, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    result = cli("runs", "prune", "--db", str(garbage))
    assert result.code == 1
    assert result.err == (
        f"error: cannot prune {garbage}: file is not a database; nothing more was deleted\n"
    )
    newer = tmp_path / "newer.db"
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    result = cli("runs", "prune", "--db", str(newer))
    assert result.code == 1
    assert result.err == (
        f"error: cannot prune {newer}: it was written by a newer hookline (schema "
        f"{SCHEMA_VERSION + 1}); prune it with that version\n"
    )


def test_a_locked_database_is_one_clear_line(cli, history, monkeypatch):
    ids, db = history
    for run_id in ids["alpha"]:
        age(db, run_id, 40)
    monkeypatch.setenv("HOOKLINE_HISTORY_TIMEOUT", "0.2")
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        result = cli("runs", "prune")
        holder.execute("ROLLBACK")
    assert result.code == 1
    assert result.err == f"error: cannot prune {db}: database is locked; nothing more was deleted\n"
    assert len(listed(cli)) == 6


def test_an_open_history_store_keeps_the_shared_texts(cli, history):
    """A process with the history open (serve during its grace period, an embedding)
    counts as a writer for as long as its store is open, not only while it schedules."""
    from hookline._store import Store

    ids, db = history
    for run_id in ids["alpha"] + ids["beta"]:
        age(db, run_id, 40)
    blobs = count(db, "blobs")
    store = Store(db)
    try:
        result = cli("runs", "prune")
        assert "stored headers and bodies were left in place" in result.err
        assert count(db, "blobs") == blobs
    finally:
        store.close()
    assert cli("runs", "prune").code == 0
    assert count(db, "blobs") < blobs
