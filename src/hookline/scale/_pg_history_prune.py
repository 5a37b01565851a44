"""``hookline runs prune --database URL``: the retention rule of ``_prune`` applied to the
run history in PostgreSQL.

The same ``Retention`` (``--keep-days``, ``--keep-runs``, ``HOOKLINE_KEEP_DAYS`` /
``_RUNS``) picks the same runs: older than ``keep_days`` days, or past the ``keep_runs``
newest of their pipeline. Never deleted: a run still ``running``, and a run an
unfinished delivery of the distributed queue (``deliveries``: queued, running,
retry-wait or needs-attention) names as its first, current or resumed run.

A run goes with its records (``ON DELETE CASCADE``) and its checkpoints, ``BATCH`` runs
per transaction, so live workers wait for these rows only briefly. ``--vacuum`` runs
``VACUUM FULL`` on the history's tables (they are locked meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from .._prune import BATCH, Pruned, Retention
from ._pg import connect, migrate

__all__ = ["prune"]

_UNFINISHED = "('queued', 'running', 'retry-wait', 'needs-attention')"
_TABLES = ("runs", "run_records")

Conn = psycopg.Connection[Any]


def _size(conn: Conn) -> int:
    parts = " + ".join(f"pg_total_relation_size('{t}')" for t in _TABLES)
    row = conn.execute(f"SELECT {parts}").fetchone()
    return int(row[0]) if row else 0


def _doomed(conn: Conn, rule: Retention, now: datetime) -> list[str]:
    """Ids of every run the rule deletes, oldest first."""
    where = ["status != 'running'"]
    params: list[Any] = []
    if rule.pipeline is not None:
        where.append("pipeline = %s")
        params.append(rule.pipeline)
    old: list[str] = []
    if rule.keep_days:
        old.append("started_at < %s")
        params.append((now - timedelta(days=rule.keep_days)).strftime("%Y-%m-%dT%H:%M:%S"))
    if rule.keep_runs:
        old.append("rank > %s")
        params.append(rule.keep_runs)
    if not old:
        return []
    has = conn.execute("SELECT to_regclass('deliveries') IS NOT NULL").fetchone()
    if has and has[0]:  # a run the queue will resume or retry stays
        where.append(
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.status IN "
            f"{_UNFINISHED} AND r.id IN (d.id, d.first_run, d.run_id, d.resume_run))"
        )
    query = (
        "SELECT id FROM (SELECT id, n, status, pipeline, started_at, row_number() OVER"
        " (PARTITION BY pipeline ORDER BY started_at DESC, n DESC) AS rank FROM runs) r"
        f" WHERE {' AND '.join(where)} AND ({' OR '.join(old)}) ORDER BY started_at, n"
    )
    return [row[0] for row in conn.execute(query, params)]


def prune(
    url: str,
    rule: Retention,
    *,
    dry_run: bool = False,
    vacuum: bool = False,
    now: datetime | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Pruned:
    """Apply ``rule`` to the history at ``url`` (migrated first). Raises psycopg.Error
    (the caller words it) or PgUnavailable."""
    conn = connect(url)
    try:
        migrate(conn)
        with conn.transaction():
            result = Pruned(bytes_before=_size(conn), blobs_swept=True)
            doomed = _doomed(conn, rule, now or datetime.now(UTC))
            total = conn.execute("SELECT count(*) FROM runs").fetchone()
        result.runs = len(doomed)
        result.kept = (int(total[0]) if total else 0) - len(doomed)
        if dry_run:
            result.bytes_after = result.bytes_before
            return result
        for start in range(0, len(doomed), BATCH):
            chunk = doomed[start : start + BATCH]
            with conn.transaction():
                # The status is checked again: a run resumed meanwhile stays.
                conn.execute(
                    "DELETE FROM checkpoints WHERE run_id = ANY(%s) AND run_id IN"
                    " (SELECT id FROM runs WHERE id = ANY(%s) AND status != 'running')",
                    (chunk, chunk),
                )
                conn.execute(
                    "DELETE FROM runs WHERE id = ANY(%s) AND status != 'running'", (chunk,)
                )
        if vacuum:
            say("vacuuming the history's tables (they are locked until this ends)")
            conn.commit()
            conn.autocommit = True
            conn.execute(f"VACUUM FULL {', '.join(_TABLES)}")
            conn.autocommit = False
        result.bytes_after = _size(conn)
        conn.commit()
        return result
    finally:
        conn.close()
