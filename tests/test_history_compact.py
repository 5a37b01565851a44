"""Schema 4 of the run history: small rows whose texts are compressed a batch at a time,
what a request costs in the database, ``runs show`` of a long loop, and the migration of
version 3 databases."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from contextlib import closing

from hookline._load import load_pipeline
from hookline._store import SCHEMA_VERSION, Store
from support import ROOT

SEED = str(ROOT / "pipelines" / "reshape-call-fields.yaml")
CALL = '[{"name":"a","value":"b"}]'


def _answer(i: int, status: int = 200) -> dict:
    """One attempt as a connector records it: a GET of /big/i answered by 1 KiB of JSON."""
    small = json.dumps({"id": i, "ok": True, "pad": ""})
    body = json.dumps({"id": i, "ok": True, "pad": "x" * (1024 - len(small))})
    return {
        "attempt": 1,
        "duration_ms": 0.8,
        "request": {
            "method": "GET",
            "url": f"http://127.0.0.1:8080/big/{i}",
            "headers": {"User-Agent": "hookline/0.1", "Accept": "*/*"},
            "body": None,
        },
        "response": {
            "status": status,
            "headers": {"Content-Type": "application/json", "Content-Length": "1024"},
            "body": body,
        },
        "error": None,
    }


def _loop_run(store: Store, run_id: str, count: int, failing: set[int] = frozenset()) -> None:
    """What a for_each of one GET per item records: an attempt, a step, an iteration."""
    store.run_started(run_id, load_pipeline(SEED), "manual", list(range(count)))
    for i in range(count):
        failed = i in failing
        attempt = _answer(i, 500 if failed else 200)
        store.step_attempt(run_id, "get", attempt, loop=("each", i))
        result = {
            "status": attempt["response"]["status"],
            "headers": {k.lower(): v for k, v in attempt["response"]["headers"].items()},
            "body": json.loads(attempt["response"]["body"]),
        }
        error = f"GET /big/{i} answered 500" if failed else None
        store.step_finished(
            run_id, "get", "failed" if failed else "ok", 0.001, None if failed else result,
            error, loop=("each", i),
        )  # fmt: skip
        store.iteration_finished(
            run_id, "each", i, "failed" if failed else "ok", 0.001, i, None,
            f"step 'get' failed: {error}" if failed else None,
        )  # fmt: skip
    store.run_finished(run_id, "failed" if failing else "succeeded", None, None)


def test_a_request_of_a_long_loop_costs_under_200_bytes_of_database(tmp_path):
    """The goal: 100,000 requests of 1 KiB JSON in at most 20 MB (200 bytes each, all
    in). Schema 3 took about 340 bytes a request here."""
    db = tmp_path / "h.db"
    count = 3000
    with Store(db) as store:
        _loop_run(store, "r1", count)
    with closing(sqlite3.connect(db)) as conn:
        pages, size = (
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
        )
    files = sum(p.stat().st_size for p in tmp_path.glob("h.db*"))
    assert files == pages * size  # closed: no write-ahead log left behind
    assert pages * size / count < 200


def test_runs_show_of_a_long_loop_counts_its_iterations_and_shows_those_that_failed(cli, tmp_path):
    db = tmp_path / "h.db"
    failing = set(range(100, 2500, 100))  # 24 failures
    with Store(db) as store:
        _loop_run(store, "r1", 2500, failing)
    shown = cli("runs", "show", "r1", "--db", str(db))
    assert shown.code == 0, shown.err
    out = shown.out
    assert "    2500 iterations: 2476 ok, 24 failed" in out
    assert out.count("    each[") == 20  # SHOWN_ITERATIONS of the 24, in order
    assert "    each[100]: failed (0.00s)\n" in out
    assert "    each[2000]: failed" in out and "each[2100]:" not in out
    assert (
        "    ... and 4 more that did not pass"
        " (runs show RUN_ID --iteration N shows one, --all every one)\n" in out
    )
    assert "/big/100\n" in out and "← 500" in out
    assert "/big/99\n" not in out  # passed: counted, not shown

    one = cli("runs", "show", "r1", "--iteration", "2400", "--db", str(db))
    assert one.code == 0, one.err
    assert "each[2400]: failed" in one.out
    assert one.out.count("→ GET") == 1 and "/big/2400\n" in one.out
    ok = json.loads(
        cli("runs", "show", "r1", "--iteration", "7", "--db", str(db), "--format", "json").out
    )
    (it,) = ok["iterations"]
    assert (it["idx"], it["status"], it["item"]) == (7, "ok", 7)
    (attempt,) = it["attempts"]
    assert attempt["request"]["url"] == "http://127.0.0.1:8080/big/7"
    assert attempt["response"] == _answer(7)["response"]
    (step,) = it["steps"]
    assert step["result"]["body"] == json.loads(_answer(7)["response"]["body"])


# The statements of schema version 3, as the previous hookline left them.
SCHEMA_3 = """
CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, file TEXT NOT NULL,
    digest TEXT NOT NULL, trigger TEXT NOT NULL, input TEXT, status TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, duration_ms REAL, output TEXT, error TEXT,
    pid INTEGER, host TEXT, heartbeat_at REAL);
CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_status ON runs (status);
CREATE TABLE steps (run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL,
    step_id TEXT NOT NULL, status TEXT NOT NULL, duration_ms REAL, result TEXT, error TEXT,
    run INTEGER, loop_step TEXT, loop_index INTEGER, result_blob INTEGER);
CREATE TABLE attempts (run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL,
    step_id TEXT NOT NULL, attempt INTEGER NOT NULL, duration_ms REAL, request TEXT,
    response TEXT, error TEXT, run INTEGER, loop_step TEXT, loop_index INTEGER,
    req_headers INTEGER, resp_headers INTEGER, req_body, resp_body);
CREATE TABLE iterations (run INTEGER NOT NULL, seq INTEGER NOT NULL, step_id TEXT NOT NULL,
    idx INTEGER NOT NULL, status TEXT NOT NULL, duration_ms REAL, item TEXT, output TEXT,
    error TEXT, loop_step TEXT, loop_index INTEGER);
CREATE INDEX iterations_by_run ON iterations (run, step_id, idx);
CREATE TABLE blobs (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL,
    base INTEGER);
CREATE INDEX steps_by_run_id ON steps (run_id, seq) WHERE run_id != '';
CREATE INDEX steps_by_run ON steps (run, seq) WHERE run IS NOT NULL;
CREATE INDEX attempts_by_run_id ON attempts (run_id, seq) WHERE run_id != '';
CREATE INDEX attempts_by_run ON attempts (run, seq) WHERE run IS NOT NULL;
PRAGMA user_version = 3;
"""

OLD_BODY = json.dumps({"old": True, "pad": "o" * 300})


def _blob(conn: sqlite3.Connection, text: str) -> int:
    key = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return conn.execute(
        "INSERT INTO blobs (hash, data) VALUES (?, ?)", (key, zlib.compress(text.encode()))
    ).lastrowid


def test_a_version_3_database_is_migrated_and_its_runs_still_read(cli, tmp_path):
    db = tmp_path / "v3.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.executescript(SCHEMA_3)
        conn.execute(
            "INSERT INTO runs VALUES ('old3', 'legacy', 'l.yaml', 'd', 'manual', '[0]',"
            " 'failed', '2026-01-01T00:00:00.00Z', '2026-01-01T00:00:01.00Z', 5.0,"
            " NULL, 'step ''get'' failed', 1, 'elsewhere', 0)"
        )
        headers = _blob(conn, json.dumps({"Content-Type": "application/json"}))
        body = _blob(conn, OLD_BODY)
        conn.execute(
            "INSERT INTO attempts VALUES ('', 1, 'get', 1, 3.0, ?, '{\"status\": 502}', NULL,"
            " 1, 'each', 0, NULL, ?, NULL, ?)",
            (json.dumps({"method": "GET", "url": "http://old.example/0"}), headers, body),
        )
        conn.execute(
            "INSERT INTO steps VALUES ('', 2, 'get', 'failed', 4.0, NULL, 'answered 502', 1,"
            " 'each', 0, NULL)"
        )
        conn.execute(
            "INSERT INTO iterations VALUES (1, 3, 'each', 0, 'failed', 4.5, '0', NULL,"
            " 'step ''get'' failed', NULL, NULL)"
        )
        conn.execute(
            "INSERT INTO steps VALUES ('', 4, 'each', 'failed', 5.0, NULL, 'step ''get'' failed',"
            " 1, NULL, NULL, NULL)"
        )
    before = cli("runs", "show", "old3", "--db", str(db))
    assert before.code == 0, before.err

    assert cli("run", SEED, "--input", CALL, "--db", str(db)).code == 0
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        new_rows = conn.execute("SELECT count(*) FROM step_records").fetchone()[0]
        old_rows = conn.execute("SELECT count(*) FROM steps").fetchone()[0]
    assert (new_rows > 0, old_rows) == (True, 2)  # new records in the new tables only

    after = cli("runs", "show", "old3", "--db", str(db))
    assert after.out == before.out
    assert "    1 iteration: 0 ok, 1 failed" in after.out
    assert "→ GET http://old.example/0" in after.out and "← 502" in after.out
    assert OLD_BODY in after.out
    old = json.loads(cli("runs", "show", "old3", "--db", str(db), "--format", "json").out)
    assert old["attempts"][0]["response"] == {
        "status": 502,
        "headers": {"Content-Type": "application/json"},
        "body": OLD_BODY,
    }
    assert [(it["idx"], it["status"], it["item"]) for it in old["iterations"]] == [(0, "failed", 0)]
    listed = json.loads(cli("runs", "--db", str(db), "--format", "json").out)
    new_id = next(r["id"] for r in listed if r["id"] != "old3")
    new = json.loads(cli("runs", "show", new_id, "--db", str(db), "--format", "json").out)
    assert new["status"] == "succeeded" and new["steps"]
