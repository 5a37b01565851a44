"""Pipeline state in PostgreSQL: the same tables, update rule and messages as ``_state``.

    backend = pg_state_backend(pool_or_url)    # or PgStore(...).state_backend()
    backend.load("orders-sync")                # Snapshot(values, version)
    backend.committer(pipeline, read_at, update, run_id, redact)   # for run_finished

The update runs in the transaction of the run's final record (``PgStore.run_finished``):
it first makes sure the pipeline has a row (``INSERT ... ON CONFLICT DO NOTHING``: two
first updates at once do not both insert), then locks that row (``SELECT ... FOR
UPDATE``), so two workers committing the same pipeline's state take turns and the second
sees the first's version: disjoint keys merge, the same key is a "state conflict"
(``_state.merge``). No watermark is lost, whatever the number of machines.

A row of version 0 (made by that first insert, for an update that then changed
nothing) reads as no state at all, as in the embedded store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .._state import CHANGES_KEPT, Changes, Snapshot, StateFailed, changed_keys, encode, merge
from ._config import masked
from ._pg import describe, make_pool, migrate, pool_where, single

__all__ = ["PgStateStore", "peek", "pg_state_backend", "replace"]

Conn = psycopg.Connection[Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(conn: Conn, pipeline: str, *, lock: bool = False) -> Snapshot:
    row = conn.execute(
        "SELECT version, value FROM pipeline_state WHERE pipeline = %s"
        + (" FOR UPDATE" if lock else ""),
        (pipeline,),
    ).fetchone()
    if row is None or not row[0]:
        return Snapshot({}, 0)
    value = json.loads(row[1])
    return Snapshot(value if isinstance(value, dict) else {}, int(row[0]))


def _lock(conn: Conn, pipeline: str) -> Snapshot:
    """The pipeline's state, its row locked until the transaction ends."""
    conn.execute(
        "INSERT INTO pipeline_state (pipeline, version, value, updated_at)"
        " VALUES (%s, 0, '{}', %s) ON CONFLICT (pipeline) DO NOTHING",
        (pipeline, _now()),
    )
    return read(conn, pipeline, lock=True)


def write(
    conn: Conn,
    pipeline: str,
    current: Snapshot,
    values: dict[str, Any],
    keys: list[str],
    shown: dict[str, Any],
    by: str | None,
) -> int:
    """Store ``values`` as version current + 1 (in the caller's transaction, the row
    locked); StateFailed when the state is too large."""
    text = encode(values)
    version = current.version + 1
    now = _now()
    conn.execute(
        "UPDATE pipeline_state SET version = %s, value = %s, updated_at = %s, updated_by = %s"
        " WHERE pipeline = %s",
        (version, text, now, by, pipeline),
    )
    conn.execute(
        "INSERT INTO state_changes (pipeline, version, run_id, keys, changes, at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (pipeline, version, by, json.dumps(keys), json.dumps(shown, sort_keys=True), now),
    )
    conn.execute(
        "DELETE FROM state_changes WHERE pipeline = %s AND version <= %s",
        (pipeline, version - CHANGES_KEPT),
    )
    return version


class PgStateStore:
    """The state tables of one PostgreSQL database (``StateBackend``)."""

    def __init__(self, pool: ConnectionPool, *, where: str | None = None) -> None:
        self.pool = pool
        self._where = where or pool_where(pool)

    @property
    def where(self) -> str:
        return self._where

    def load(self, pipeline: str) -> Snapshot:
        try:
            with single(self.pool) as conn:
                return read(conn, pipeline)
        except (psycopg.Error, ValueError) as exc:
            raise StateFailed(
                f"cannot read the pipeline's state from {self.where}: {describe(exc)}"
            ) from exc

    def committer(
        self,
        pipeline: str,
        read_at: Snapshot,
        update: Mapping[str, Any],
        run_id: str,
        redact: Callable[[Any], Any],
    ) -> Callable[[Conn], None]:
        def commit(conn: Conn) -> None:
            current = _lock(conn, pipeline)

            def since() -> Changes:
                rows = conn.execute(
                    "SELECT version, run_id, keys FROM state_changes"
                    " WHERE pipeline = %s AND version > %s ORDER BY version",
                    (pipeline, read_at.version),
                ).fetchall()
                return [(v, by, json.loads(keys)) for v, by, keys in rows]

            found = merge(read_at, update, current, since)
            if found is None:
                return
            new, keys = found
            shown = redact({k: update[k] for k in keys})
            write(conn, pipeline, current, new, keys, shown, run_id)

        return commit

    def replace(
        self,
        pipeline: str,
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
        by: str,
    ) -> tuple[int, dict[str, Any]]:
        """``hookline state set|clear``: as ``StateStore.replace``, the row locked."""
        with self.pool.connection() as conn:
            return replace(conn, pipeline, change, by)

    def peek(self, pipeline: str | None = None, run_id: str | None = None) -> dict[str, Any]:
        with self.pool.connection() as conn:
            return peek(conn, pipeline, run_id)


def replace(
    conn: Conn,
    pipeline: str,
    change: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
    by: str,
) -> tuple[int, dict[str, Any]]:
    """Change the state by hand: ``change(current)`` gives the new state and what
    ``state_changes`` keeps of it, inside one transaction, the row locked, so that no
    run's update saved meanwhile is lost. The new version and state."""
    with conn.transaction():
        current = _lock(conn, pipeline)
        values, shown = change(current.values)
        # The keys whose value this changes: a run in flight that changes only others
        # keeps its update (the conflict rule).
        gone = {key: None for key in current.values if key not in values}
        keys = changed_keys(current.values, {**values, **gone})
        version = write(conn, pipeline, current, values, keys, shown, by)
    return version, values


def peek(conn: Conn, pipeline: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """As ``_state.peek``: a pipeline's state and its last changes, or the change a run
    committed (empty when the tables are not there yet)."""
    out: dict[str, Any] = {}
    args: tuple[Any, ...]
    found = conn.execute("SELECT to_regclass('state_changes') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return out
    if pipeline is not None:
        row = conn.execute(
            "SELECT version, value, updated_at, updated_by FROM pipeline_state"
            " WHERE pipeline = %s AND version > 0",
            (pipeline,),
        ).fetchone()
        if row is not None:
            out.update(
                version=row[0], state=json.loads(row[1]), updated_at=row[2], updated_by=row[3]
            )
        where, args = "pipeline = %s", (pipeline,)
    else:
        where, args = "run_id = %s", (run_id,)
    rows = conn.execute(
        "SELECT version, run_id, keys, changes, at FROM state_changes"
        f" WHERE {where} ORDER BY version DESC LIMIT 10",
        args,
    ).fetchall()
    out["changes"] = [
        {"version": v, "by": r, "keys": json.loads(k), "values": json.loads(c), "at": at}
        for v, r, k, c, at in rows
    ]
    return out


def pg_state_backend(target: str | ConnectionPool) -> PgStateStore:
    """The state backend of a database (a URL opens a pool of its own, never closed: for
    a process's lifetime, and migrates the database)."""
    pool = make_pool(target, max_size=2) if isinstance(target, str) else target
    if isinstance(target, str):
        with pool.connection() as conn:
            migrate(conn)
    return PgStateStore(pool, where=masked(target) if isinstance(target, str) else None)
