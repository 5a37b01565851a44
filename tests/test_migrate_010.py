"""A run history written by release 0.1.0 (schema 1; see fixtures/make_db_010.py) is
read as it is, migrated forward when a run opens it, shown whole, and pruned."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hookline._store_schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "fixtures" / "hookline-0.1.0.db"
SUCCEEDED = "d3bd43b935da421d8892a036f50001c1"
FAILED = "3dcfc3a84a704280a4e4e0edeffeb4c5"
PURE = "84e961e3f89d4b909d24c01a0eb0f844"
QUICK = "version: 1\nname: fetch-contact\nsteps:\n  - id: one\n    set: 1\noutput: 1\n"


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "hookline.db"
    shutil.copyfile(FIXTURE, db)
    return db


def version(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def runs(cli, db: Path) -> list[tuple[str, str, str]]:
    result = cli("runs", "--db", str(db), "--format", "json")
    assert result.code == 0, result.err
    return [(r["id"], r["pipeline"], r["status"]) for r in json.loads(result.out)]


OLD_RUNS = [
    (PURE, "reshape-call-fields", "succeeded"),
    (FAILED, "fetch-contact", "failed"),
    (SUCCEEDED, "fetch-contact", "succeeded"),
]


def check_old_runs_read_whole(cli, db: Path) -> None:
    assert runs(cli, db)[-3:] == OLD_RUNS
    shown = json.loads(cli("runs", "show", SUCCEEDED, "--db", str(db), "--format", "json").out)
    assert [(s["step_id"], s["status"]) for s in shown["steps"]] == [
        ("contact", "ok"),
        ("card", "ok"),
    ]
    [attempt] = shown["attempts"]
    assert attempt["request"]["method"] == "GET"
    assert attempt["request"]["headers"]["Authorization"] == "***"
    assert json.loads(attempt["response"]["body"])["name"] == "Ada Lovelace"
    assert shown["output"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert shown["steps"][0]["result"]["body"]["email"] == "ada@example.com"
    text = cli("runs", "show", FAILED, "--db", str(db))
    assert text.code == 0
    assert "answered 404 Not Found" in text.out


def test_the_fixture_is_schema_1():
    assert version(FIXTURE) == 1


def test_an_old_history_is_read_without_being_changed(cli, old_db):
    check_old_runs_read_whole(cli, old_db)
    assert version(old_db) == 1  # reading never migrates (runs opens it read-only)


def test_a_run_migrates_it_forward_and_the_old_runs_stay_whole(cli, old_db, tmp_path):
    pipeline = tmp_path / "quick.yaml"
    pipeline.write_text(QUICK, encoding="utf-8")
    result = cli(str(pipeline), "--db", str(old_db), prog="run-pipeline")
    assert result.code == 0, result.err
    assert result.err.count("warning") == 0
    assert version(old_db) == SCHEMA_VERSION
    listed = runs(cli, old_db)
    assert len(listed) == 4 and listed[0][1:] == ("fetch-contact", "succeeded")
    check_old_runs_read_whole(cli, old_db)


def test_an_old_history_is_pruned(cli, old_db, tmp_path):
    result = cli("runs", "prune", "--db", str(old_db), "--keep-runs", "1", "--keep-days", "0")
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == (
        "deleted 1 run (past the 1 newest of their pipeline); 2 kept"
    )
    assert version(old_db) == SCHEMA_VERSION
    assert runs(cli, old_db) == [OLD_RUNS[0], OLD_RUNS[1]]
    with closing(sqlite3.connect(old_db)) as conn:  # no row of the deleted run is left
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = {c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')}
            if "run_id" in columns:
                sql = f'SELECT count(*) FROM "{table}" WHERE run_id = ?'
                assert conn.execute(sql, (SUCCEEDED,)).fetchone()[0] == 0, table
    gone = cli("runs", "show", SUCCEEDED, "--db", str(old_db))
    assert gone.code == 2
    kept = cli("runs", "show", FAILED, "--db", str(old_db))  # the kept ones read whole
    assert kept.code == 0 and "answered 404 Not Found" in kept.out
