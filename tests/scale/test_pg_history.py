"""The run history in PostgreSQL: the same runs recorded with ``--db`` (SQLite) and with
``--database`` (PostgreSQL) print the same ``runs`` / ``runs show``; a run whose process
stopped beating is shown lost; no secret reaches the database."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from history_support import silent_server, wait_for
from servers.rest_app import RestServer

TOKEN = "hlb_pg_Secret-Token_93f1c2"

PIPELINE = """\
version: 1
name: mirror
secrets: [TOKEN]
connections:
  api:
    rest:
      base_url: "{url}"
      auth: {{bearer: "${{{{ secrets.TOKEN }}}}"}}
save_state:
  last: "${{{{ input.n }}}}"
steps:
  - id: post
    rest: {{connection: api, method: POST, path: /echo, json: {{n: "${{{{ input.n }}}}"}}}}
  - id: each
    for_each:
      items: "${{{{ input.codes }}}}"
      steps:
        - id: get
          rest: {{connection: api, method: GET, path: "/status/${{{{ item }}}}"}}
output: "${{{{ steps.post.body.json }}}}"
"""

INPUTS = [{"n": 1, "codes": [200, 201]}, {"n": 2, "codes": [200, 404, 202]}]


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


def _record_both(cli, write, tmp_path: Path, api: RestServer, pg_url: str, monkeypatch) -> Path:
    """The same two runs, into a SQLite history and into PostgreSQL."""
    monkeypatch.setenv("TOKEN", TOKEN)
    path = write("mirror.yaml", PIPELINE.format(url=api.url))
    db = tmp_path / "h.db"
    for where in (["--db", str(db)], ["--database", pg_url]):
        ran = [cli("run", path, "--input", json.dumps(i), *where) for i in INPUTS]
        assert [r.code for r in ran] == [0, 1], [r.err for r in ran]
    return db


_ID = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{12}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def _text(out: str) -> str:
    """What differs between two recordings of the same runs: ids, times, durations."""
    out = _ID.sub("ID", out)
    out = _TIME.sub("TIME", out)
    out = re.sub(r"\d+\.\d\ds", "N.NNs", out)
    out = re.sub(r"\(\d+ms\)", "(Nms)", out)
    return re.sub(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", "DATE", out)


_VARYING = {"id", "run_id", "started_at", "finished_at", "duration_ms", "heartbeat_at", "pid"}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "X" if k in _VARYING or k.lower() == "date" else _plain(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    return value


def _ids(cli, where: list[str]) -> list[str]:
    return [r["id"] for r in json.loads(cli("runs", *where, "--format", "json").out)]


def test_the_same_runs_print_the_same_from_sqlite_and_postgresql(
    cli, write, tmp_path, api, pg_url, monkeypatch
):
    db = _record_both(cli, write, tmp_path, api, pg_url, monkeypatch)
    lite, pg = ["--db", str(db)], ["--database", pg_url]

    listed = [cli("runs", *where) for where in (lite, pg)]
    assert [r.code for r in listed] == [0, 0]
    assert _text(listed[0].out) == _text(listed[1].out)
    assert len(listed[1].out.splitlines()) == 3  # the header and both runs
    assert "failed" in listed[1].out and "succeeded" in listed[1].out

    lite_ids, pg_ids = _ids(cli, lite), _ids(cli, pg)
    for lite_id, pg_id in zip(lite_ids, pg_ids, strict=True):
        for extra in ([], ["--all"], ["--iteration", "1"], ["--format", "json"]):
            a = cli("runs", "show", lite_id[:12], *lite, *extra)
            b = cli("runs", "show", pg_id[:12], *pg, *extra)
            assert (a.code, b.code) == (0, 0), (extra, a.err, b.err)
            if "--format" in extra:
                assert _plain(json.loads(a.out)) == _plain(json.loads(b.out))
            else:
                assert _text(a.out) == _text(b.out), extra
    failed = cli("runs", "show", pg_ids[0][:12], *pg).out
    assert "each[1]: failed" in failed and "← 404" in failed
    assert "state saved (version 1)" in cli("runs", "show", pg_ids[1][:12], *pg).out

    # the same filters
    for args in (["--status", "failed"], ["--pipeline", "mirror", "--limit", "1"]):
        a, b = cli("runs", *lite, *args), cli("runs", *pg, *args)
        assert _text(a.out) == _text(b.out) and len(b.out.splitlines()) == 2


def test_a_run_id_that_matches_nothing_is_one_line(cli, tmp_path, pg_url):
    assert cli("run", _write_set(tmp_path), "--database", pg_url).code == 0
    shown = cli("runs", "show", "ffffffffff", "--database", pg_url)
    assert (shown.code, shown.out) == (2, "")
    where = pg_url.replace("//postgres@", "//***@")  # a user alone may be a password
    assert shown.err == f"error: no run with id 'ffffffffff' in {where}\n"


def _write_set(tmp_path: Path) -> str:
    path = tmp_path / "set.yaml"
    path.write_text("version: 1\nname: plain\nsteps:\n  - id: a\n    set: 1\n", encoding="utf-8")
    return str(path)


def _all_text(pg_url: str) -> str:
    """Every row of every table, as text."""
    with psycopg.connect(pg_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
        )


def test_no_secret_reaches_the_database(cli, write, tmp_path, api, pg_url, monkeypatch):
    # The bearer token is sent in a header and echoed back in the answer's body: both
    # are recorded, redacted.
    _record_both(cli, write, tmp_path, api, pg_url, monkeypatch)
    stored = _all_text(pg_url)
    assert "authorization" in stored.lower()  # the records are there...
    assert TOKEN not in stored  # ...without the token


LOST_DRIVER = """\
import sys
from hookline.cli import run_pipeline_main
sys.exit(run_pipeline_main(sys.argv[1:]))
"""


def test_a_run_whose_process_stopped_beating_is_lost(cli, tmp_path, pg_url, monkeypatch):
    # Taken for dead after 6 s of silence (it beats every 1 s while alive): a heartbeat
    # late by a few seconds on a loaded machine is not taken for a dead process.
    monkeypatch.setenv("HOOKLINE_HISTORY_STALE_SECONDS", "6")
    stuck = tmp_path / "stuck.yaml"
    with silent_server() as (port, arrived):
        stuck.write_text(
            "version: 1\nname: stuck\nconnections:\n  slow:\n    rest:\n"
            f'      base_url: "http://127.0.0.1:{port}"\n      timeout: 120s\n'
            "steps:\n  - id: wait\n    rest: {connection: slow, method: GET, path: /never}\n",
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", LOST_DRIVER, str(stuck), "--database", pg_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(arrived, proc)
            time.sleep(7)  # alive past the stale time: its heartbeat keeps it running
            alive = json.loads(cli("runs", "--database", pg_url, "--format", "json").out)
            assert [r["status"] for r in alive] == ["running"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc.stderr.close()  # type: ignore[union-attr]

    deadline = time.monotonic() + 60  # lost once 6 s passed without a beat
    while " lost " not in (listed := cli("runs", "--database", pg_url)).out:
        assert time.monotonic() < deadline, listed.out
        time.sleep(0.5)
    row = listed.out.splitlines()[1]
    assert " lost " in row
    assert re.search(
        rf"lost: no sign of life from its process \(pid {proc.pid} on [^)]+\) for \d+s", row
    ), row
    lost = json.loads(cli("runs", "--database", pg_url, "--status", "lost", "--format", "json").out)
    assert [r["pipeline"] for r in lost] == ["stuck"]
    with psycopg.connect(pg_url) as conn:  # reading changed nothing
        assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]

    # The next process that opens the history records it lost.
    assert cli("run", _write_set(tmp_path), "--database", pg_url).code == 0
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT pipeline, status, error FROM runs ORDER BY n").fetchall()
    assert [(p, s) for p, s, _ in rows] == [("stuck", "lost"), ("plain", "succeeded")]
    assert rows[0][2].startswith(f"lost: no sign of life from its process (pid {proc.pid} on ")


def test_two_processes_recording_one_run_lose_nothing_already_kept(tmp_path, pg_url):
    # A lease taken over from a worker that was only slow: both record the same run for a
    # while. Their record numbers collide; what the first kept stays, and neither turns
    # its history off.
    from hookline._load import load_pipeline
    from hookline.scale._pg_history import PgStore

    pipeline = load_pipeline(_write_set(tmp_path))
    warnings: list[str] = []
    with (
        PgStore(pg_url, warn=warnings.append) as slow,
        PgStore(pg_url, warn=warnings.append) as new,
    ):
        slow.run_started("r1", pipeline, "webhook", None)
        for step in ("a", "b", "c"):
            slow.step_finished("r1", step, "ok", 0.1, step, None)
        slow.flush()
        new.run_started("r1", pipeline, "webhook", None)  # numbers its records from 4
        slow.step_finished("r1", "d", "ok", 0.1, "slow", None)  # 4
        slow.flush()
        new.step_finished("r1", "d", "ok", 0.1, "new", None)  # 4 again: not kept
        new.step_finished("r1", "e", "ok", 0.1, "new", None)  # 5
        new.run_finished("r1", "succeeded", None, None)
    assert warnings == []
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT seq, step_id, texts FROM run_records ORDER BY seq").fetchall()
    assert [(seq, step) for seq, step, _ in rows] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
        (4, "d"),
        (5, "e"),
    ]
    assert "slow" in rows[3][2]


def test_run_ids_complete_from_postgresql(cli, tmp_path, pg_url):
    import argparse

    from hookline.cli.runs import recent_run_ids

    assert cli("run", _write_set(tmp_path), "--database", pg_url).code == 0
    [run_id] = [
        r["id"] for r in json.loads(cli("runs", "--database", pg_url, "--format", "json").out)
    ]
    args = argparse.Namespace(database=pg_url, db=None)
    assert recent_run_ids("", args) == [run_id[:12]]
    assert recent_run_ids("zz", args) == []


def test_database_options_where_they_are_given(cli, tmp_path, pg_url, monkeypatch):
    assert cli("run", _write_set(tmp_path), "--database", pg_url).code == 0
    [run_id] = [
        r["id"] for r in json.loads(cli("runs", "--database", pg_url, "--format", "json").out)
    ]
    # before or after the subcommand, or from the environment
    assert cli("runs", "--database", pg_url, "show", run_id[:12]).code == 0
    monkeypatch.setenv("HOOKLINE_DATABASE_URL", pg_url)
    assert cli("runs", "show", run_id[:12]).out.startswith(f"run {run_id}\n")
    # an explicit --db beats the environment's database
    db = tmp_path / "h.db"
    assert cli("run", _write_set(tmp_path), "--db", str(db)).code == 0
    assert len(json.loads(cli("runs", "--db", str(db), "--format", "json").out)) == 1
    both = cli("runs", "--db", str(db), "--database", pg_url)
    assert (both.code, both.err) == (
        2,
        "error: give --db PATH (SQLite) or --database URL (PostgreSQL), not both\n",
    )
