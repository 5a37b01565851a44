"""Pipeline state in PostgreSQL under concurrent runs: updates of disjoint keys merge,
updates of the same key conflict, and no update is ever lost, whatever the number of
writers committing at once (each with its own pool, as workers on several machines)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hookline._load import load_pipeline
from hookline._state import StateConflict
from hookline.scale._pg_history import PgStore

PIPELINE = "version: 1\nname: sync\nsteps:\n  - id: a\n    set: 1\n"


def _redact(value: Any) -> Any:
    return value


def _commit_at_once(pg_url: str, pipeline, updates: list[dict[str, Any]]) -> list[Any]:
    """Each update from its own store, all read at the same version, all committed at
    once; the first to lock holds its transaction a moment so the others must wait for
    it. The result of each: None (saved) or the exception."""
    stores = [PgStore(pg_url, warn=pytest.fail) for _ in updates]
    try:
        read_at = [store.state_backend().load("sync") for store in stores]
        assert len({snap.version for snap in read_at}) == 1
        ready = threading.Barrier(len(updates), timeout=60)  # a failed peer breaks it
        # a thread that never finishes leaves this, not None ("saved")
        results: list[Any] = ["never finished"] * len(updates)

        def run(i: int) -> None:
            store = stores[i]
            run_id = f"run{i}"
            try:
                store.run_started(run_id, pipeline, "manual", None)
                commit = store.state_backend().committer(
                    "sync", read_at[i], updates[i], run_id, _redact
                )
            except BaseException as exc:
                results[i] = exc
                ready.abort()  # the others stop waiting for this one
                return

            def slow(conn: psycopg.Connection[Any]) -> None:
                commit(conn)
                time.sleep(0.2)  # hold the row: writers that come now wait at its lock

            try:
                ready.wait()
                store.run_finished(run_id, "succeeded", None, None, commit=slow)
                results[i] = None
            except Exception as exc:
                results[i] = exc

        threads = [
            threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(updates))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a writer hangs"
    finally:
        for store in stores:
            store.close()
    return results


def _state(pg_url: str) -> tuple[int, Any]:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT version, value FROM pipeline_state").fetchone()
    assert row is not None
    return row[0], json.loads(row[1])


def test_disjoint_keys_from_six_writers_all_merge(tmp_path: Path, pg_url: str) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "p.yaml")
    updates = [{f"cursor_{i}": i * 10} for i in range(6)]
    results = _commit_at_once(pg_url, pipeline, updates)
    assert results == [None] * 6
    assert _state(pg_url) == (6, {f"cursor_{i}": i * 10 for i in range(6)})
    with psycopg.connect(pg_url) as conn:
        statuses = conn.execute("SELECT status FROM runs ORDER BY id").fetchall()
        changes = conn.execute(
            "SELECT version, keys FROM state_changes ORDER BY version"
        ).fetchall()
    assert statuses == [("succeeded",)] * 6
    assert sorted(keys for _, keys in changes) == sorted(f'["cursor_{i}"]' for i in range(6))


def test_the_same_key_from_two_writers_conflicts_and_nothing_of_the_loser_is_saved(
    tmp_path: Path, pg_url: str
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "p.yaml")
    updates = [{"cursor": "2024-05-01", "a": 1}, {"cursor": "2024-06-01", "b": 2}]
    results = _commit_at_once(pg_url, pipeline, updates)
    [loser] = [i for i, r in enumerate(results) if r is not None]
    winner = 1 - loser
    assert isinstance(results[loser], StateConflict)
    assert str(results[loser]) == (
        f"state conflict: run run{winner} changed 'cursor' (state version 1) after this run "
        "read the state (version 0); this run's state update was not saved"
    )
    assert _state(pg_url) == (1, updates[winner])
    with psycopg.connect(pg_url) as conn:
        rows = dict(conn.execute("SELECT id, status FROM runs").fetchall())
    # The loser's final record was not written with it (the engine then records it failed).
    assert rows == {f"run{winner}": "succeeded", f"run{loser}": "running"}


def test_a_run_that_read_before_a_hand_set_key_conflicts(tmp_path, pg_url, cli) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    pipeline = load_pipeline(tmp_path / "p.yaml")
    with PgStore(pg_url, warn=pytest.fail) as store:
        backend = store.state_backend()
        read_at = backend.load("sync")
        done = cli("state", "set", "sync", "cursor", '"2024-01-01"', "--database", pg_url)
        assert (done.code, done.err) == (0, "state of sync: version 1\n")
        store.run_started("r1", pipeline, "manual", None)
        commit = backend.committer("sync", read_at, {"cursor": "2025-01-01"}, "r1", _redact)
        with pytest.raises(StateConflict) as caught:
            store.run_finished("r1", "succeeded", None, None, commit=commit)
    assert str(caught.value) == (
        "state conflict: hookline state set changed 'cursor' (state version 1) after this "
        "run read the state (version 0); this run's state update was not saved"
    )
    shown = cli("state", "show", "sync", "--database", pg_url)
    assert '"cursor": "2024-01-01"' in shown.out and '"version": 1' in shown.out
