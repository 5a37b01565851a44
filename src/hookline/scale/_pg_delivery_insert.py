"""Inserting deliveries into the ``deliveries`` table: the group commit's statement.

One batch is a few statements in the caller's transaction, whatever its size: the keys
already there (one query), the rows (one INSERT from arrays, ``ON CONFLICT DO NOTHING`` on
the table's ``UNIQUE (pipeline, key)``), and, for a key another instance inserted in the
meantime, the first delivery's id (one query). The queue's limits are checked here too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..serve._intake_store import dumps, new_run_id
from ..serve._queue import Accepted, Delivery, IntakeUnavailable, QueueFull

if TYPE_CHECKING:
    import psycopg

__all__ = ["PipelineQueueFull", "count_waiting", "insert_batch"]


class PipelineQueueFull(QueueFull):
    """One pipeline's waiting deliveries fill its share of the queue."""

    def __init__(self, pipeline: str, depth: int, retry_after: int) -> None:
        super().__init__(depth, retry_after)
        self.pipeline = pipeline
        self.args = (
            f"the queue holds {depth} deliveries of {pipeline}, its share of the queue; try "
            f"again in {retry_after}s",
        )


def insert_batch(
    conn: psycopg.Connection[Any],
    batch: list[Delivery],
    *,
    waiting: int | None = None,
    max_queue: int | None = None,
    max_per_pipeline: int | None = None,
    retry_after: int = 30,
    published: bool = True,
) -> list[Accepted | BaseException]:
    """Insert ``batch`` in the caller's transaction; what each delivery became.

    A key seen before (by any serve instance: the table's UNIQUE decides) answers the
    first delivery's run id as a duplicate, even when the queue is full. Past
    ``max_queue`` waiting (``waiting`` counted by the caller), QueueFull; past
    ``max_per_pipeline`` of one pipeline, PipelineQueueFull. ``published``: mark the rows
    published (the caller publishes them at once; on failure it calls ``unpublished``)."""
    out: list[Accepted | BaseException | None] = [None] * len(batch)
    keyed = [(d.pipeline, d.key) for d in batch if d.key is not None]
    seen = _existing(conn, keyed) if keyed else {}
    count = waiting or 0
    by_pipeline: dict[str, int] = {}
    rows: list[tuple[int, str, Delivery, str]] = []
    for index, delivery in enumerate(batch):
        if delivery.key is not None and (delivery.pipeline, delivery.key) in seen:
            out[index] = Accepted(seen[delivery.pipeline, delivery.key], True)
            continue
        name = delivery.pipeline
        if max_queue is not None and count >= max_queue:
            out[index] = QueueFull(count, retry_after)
            continue
        if max_per_pipeline is not None and count >= max_per_pipeline:
            if name not in by_pipeline:
                by_pipeline[name] = _waiting_of(conn, name)
            if by_pipeline[name] >= max_per_pipeline:
                out[index] = PipelineQueueFull(name, by_pipeline[name], retry_after)
                continue
        try:
            text = dumps(delivery.input)
        except (TypeError, ValueError) as exc:  # not JSON: a bug of the caller
            out[index] = IntakeUnavailable(f"the input is not JSON: {exc}")
            continue
        rows.append((index, new_run_id(), delivery, text))
        count += 1
        if name in by_pipeline:
            by_pipeline[name] += 1
    if rows:
        inserted = {
            r[0]
            for r in conn.execute(
                "INSERT INTO deliveries (id, first_run, run_id, pipeline, trigger, key, input,"
                " received_at, published_at)"
                " SELECT i, i, i, p, t, k, v::json, to_timestamp(r), CASE WHEN %s THEN now() END"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::float8[]) AS u(i, p, t, k, v, r)"
                " ON CONFLICT (pipeline, key) DO NOTHING RETURNING id",
                (
                    published,
                    [r[1] for r in rows],
                    [r[2].pipeline for r in rows],
                    [r[2].trigger for r in rows],
                    [r[2].key for r in rows],
                    [r[3] for r in rows],
                    [r[2].received_at or _now() for r in rows],
                ),
            ).fetchall()
        }
        # Lost a race with another instance (or a twin in this batch): the first's id.
        raced = [(r[2].pipeline, r[2].key) for r in rows if r[1] not in inserted]
        firsts = _existing(conn, raced) if raced else {}
        for index, run_id, delivery, _ in rows:
            if run_id in inserted:
                out[index] = Accepted(run_id, False)
            else:
                out[index] = Accepted(firsts[delivery.pipeline, delivery.key], True)
    return [r for r in out if r is not None]


def _now() -> float:
    return time.time()


def _existing(
    conn: psycopg.Connection[Any], keys: Sequence[tuple[str, str | None]]
) -> dict[tuple[str, str | None], str]:
    found = conn.execute(
        "SELECT d.pipeline, d.key, d.id FROM deliveries d"
        " JOIN unnest(%s::text[], %s::text[]) AS u(p, k) ON d.pipeline = u.p AND d.key = u.k",
        ([p for p, _ in keys], [k for _, k in keys]),
    ).fetchall()
    return {(p, k): i for p, k, i in found}


def _waiting_of(conn: psycopg.Connection[Any], pipeline: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM deliveries WHERE pipeline = %s"
        " AND status IN ('queued', 'retry-wait')",
        (pipeline,),
    ).fetchone()
    return int(row[0]) if row else 0


def count_waiting(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Deliveries waiting (queued or retry-wait), and running, in one query."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status <> 'running'), count(*) FILTER"
        " (WHERE status = 'running') FROM deliveries"
        " WHERE status IN ('queued', 'retry-wait', 'running')"
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
