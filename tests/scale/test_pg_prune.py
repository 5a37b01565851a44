"""``hookline runs prune --database``: the retention rule of the embedded history, applied
in PostgreSQL. Old runs go with their records and checkpoints; a running run, and a run
an unfinished delivery of the distributed queue names, stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from hookline._load import load_pipeline
from hookline.scale._pg_checkpoints import PgCheckpointStore
from hookline.scale._pg_history import PgStore


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _record(pg_url: str, tmp_path: Path) -> None:
    """Runs of pipeline p: r1 (old), r2 (old, still running), r3 (old, its delivery is
    queued for a retry), r4 (old, its delivery done), r5 (new); of pipeline q: q1-q3."""
    path = tmp_path / "p.yaml"
    for name in ("p", "q"):
        path.write_text(f"version: 1\nname: {name}\nsteps:\n  - id: a\n    set: 1\n")
        pipeline = load_pipeline(path)
        runs = ["r1", "r2", "r3", "r4", "r5"] if name == "p" else ["q1", "q2", "q3"]
        with PgStore(pg_url, warn=pytest.fail) as store:
            for run_id in runs:
                store.run_started(run_id, pipeline, "manual", {"n": run_id})
                store.step_finished(run_id, "a", "ok", 0.01, {"big": "x" * 5000}, None)
                if run_id != "r2":
                    store.run_finished(run_id, "succeeded", 1, None)
            store.flush()
    with PgCheckpointStore(pg_url) as checkpoints:
        checkpoints.for_run("r1").finished(0, "a", "digest", {"n": 1})
    with psycopg.connect(pg_url) as conn:
        for run_id, days in (("r1", 40), ("r2", 41), ("r3", 42), ("r4", 43)):
            conn.execute("UPDATE runs SET started_at = %s WHERE id = %s", (_days_ago(days), run_id))
        for run_id, minutes in (("q1", 3), ("q2", 2), ("q3", 1)):
            stamp = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()[:23] + "Z"
            conn.execute("UPDATE runs SET started_at = %s WHERE id = %s", (stamp, run_id))
        for delivery, run_id, status in (("d3", "r3", "retry-wait"), ("d4", "r4", "done")):
            conn.execute(
                "INSERT INTO deliveries (id, pipeline, trigger, input, status, first_run,"
                " run_id) VALUES (%s, 'p', 'webhook', %s, %s, %s, %s)",
                (delivery, json.dumps({}), status, delivery, run_id),
            )


def _left(pg_url: str) -> tuple[list[str], list[str], list[str]]:
    with psycopg.connect(pg_url) as conn:
        runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
        records = [r[0] for r in conn.execute("SELECT DISTINCT run_id FROM run_records ORDER BY 1")]
        checkpoints = [r[0] for r in conn.execute("SELECT run_id FROM checkpoints")]
    return runs, records, checkpoints


def test_prune_keeps_what_is_running_or_queued_and_deletes_the_rest(cli, pg_url, tmp_path):
    _record(pg_url, tmp_path)
    everything = ["q1", "q2", "q3", "r1", "r2", "r3", "r4", "r5"]

    dry = cli("runs", "prune", "--database", pg_url, "--dry-run")
    assert (dry.code, dry.out) == (0, "")
    assert dry.err == "would delete 2 runs (older than 30 days); 6 kept\n"
    assert _left(pg_url) == (everything, everything, ["r1"])

    done = cli("runs", "prune", "--database", pg_url)
    assert done.code == 0
    lines = done.err.splitlines()
    assert lines[0] == "deleted 2 runs (older than 30 days); 6 kept"
    assert lines[1].startswith("history data: ") and lines[1].endswith(
        "after (the tables keep their size until --vacuum)"
    )
    kept = ["q1", "q2", "q3", "r2", "r3", "r5"]
    assert _left(pg_url) == (kept, kept, [])  # r1's records and checkpoints went with it

    by_count = cli("runs", "prune", "--database", pg_url, "--keep-days", "0", "--keep-runs", "1")
    assert by_count.err.splitlines()[0] == (
        "deleted 2 runs (past the 1 newest of their pipeline); 4 kept"
    )
    assert _left(pg_url)[0] == ["q3", "r2", "r3", "r5"]

    vacuumed = cli("runs", "prune", "--database", pg_url, "--pipeline", "q", "--vacuum")
    assert vacuumed.code == 0
    assert vacuumed.err.splitlines()[:2] == [
        "vacuuming the history's tables (they are locked until this ends)",
        "deleted 0 runs (older than 30 days, of pipeline 'q'); 4 kept",
    ]


def test_prune_of_an_unreachable_database_is_one_line(cli) -> None:
    done = cli("runs", "prune", "--database", "postgresql://u:pw-Secret1@127.0.0.1:1/x")
    assert done.code == 1
    assert done.err.startswith(
        "error: cannot connect to the database postgresql://u:***@127.0.0.1:1/x: "
    )
    assert "pw-Secret1" not in done.err and len(done.err.splitlines()) == 1
