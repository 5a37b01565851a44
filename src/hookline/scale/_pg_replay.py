"""``hookline replay --database URL``: the replay of ``serve._replay`` against the
distributed mode's PostgreSQL.

The same rules as on one machine: the input comes from the run's delivery (the
``deliveries`` table keeps it as it arrived), else from the run history when the history
kept it whole and unmasked; a delivery still queued or running is not replayed; a replay
run here is linked to its delivery (an extra attempt), and a dead or needs-attention
delivery whose replay succeeded becomes ``done``. ``--queue`` puts the delivery back in
the queue with a fresh retry budget (the leader's dispatcher publishes it within a
second); a run without a delivery is queued as a new ``replay`` delivery.
"""

from __future__ import annotations

from typing import Any

from .._errors import UsageError
from ..serve._intake_store import dumps, new_run_id
from ..serve._queue import Accepted
from ..serve._replay import REPLAYABLE, Source, history_source
from ._pg import connect

__all__ = ["dead_sources", "find_source", "queue_new", "record_replay", "requeue"]


def _row(cursor: Any) -> dict[str, Any] | None:
    found = cursor.fetchone()
    if found is None:
        return None
    return dict(zip([c.name for c in cursor.description], found, strict=True))


def find_source(url: str, run_id: str) -> Source:
    """The run ``run_id`` (or a unique prefix) and the input to replay it with."""
    from ._pg_history_read import PgHistory

    with PgHistory(url) as history:
        run = history.get_run(run_id)
    with connect(url) as conn:
        delivery = _row(
            conn.execute(
                "SELECT d.id, d.status, d.trigger, d.input FROM deliveries d"
                " WHERE d.id = %(run)s OR d.id = (SELECT delivery FROM delivery_runs"
                " WHERE run_id = %(run)s) LIMIT 1",
                {"run": run["id"]},
            )
        )
    if delivery is None:
        return history_source(run)
    if delivery["status"] not in REPLAYABLE:
        raise UsageError(
            f"run {run['id']} belongs to a delivery that is {delivery['status']}: "
            "hookline workers run it; replay it once it is done, dead or needs-attention"
        )
    return Source(
        run["id"], run["pipeline"], run["file"], delivery["input"], delivery["id"],
        delivery["trigger"],
    )  # fmt: skip


def dead_sources(url: str, pipeline: str) -> list[Source]:
    """Every dead delivery of ``pipeline``, oldest first, with the file of its last run."""
    with connect(url) as conn:
        found = conn.execute(
            "SELECT d.id, d.run_id, d.trigger, d.input, r.file FROM deliveries d"
            " LEFT JOIN runs r ON r.id = d.run_id"
            " WHERE d.pipeline = %s AND d.status = 'dead' ORDER BY d.received_at, d.id",
            (pipeline,),
        ).fetchall()
    return [
        Source(run_id or delivery, pipeline, file or "", value, delivery, trigger)
        for delivery, run_id, trigger, value, file in found
    ]


def record_replay(url: str, source: Source, run_id: str, status: str) -> None:
    """Link the replay's run to its delivery; a delivery whose replay succeeded is done.
    A delivery queued again meanwhile (``--queue``) is left to its workers."""
    if source.delivery is None:
        return
    done = status == "succeeded"
    with connect(url) as conn:
        changed = conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, run_id = %(run)s,"
            " status = CASE WHEN %(done)s THEN 'done' ELSE status END,"
            " error = CASE WHEN %(done)s THEN NULL ELSE error END,"
            " run_status = %(status)s, finished_at = now(), updated_at = now()"
            " WHERE id = %(id)s AND status = ANY(%(replayable)s) RETURNING attempts",
            {
                "run": run_id,
                "done": done,
                "status": status,
                "id": source.delivery,
                "replayable": list(REPLAYABLE),
            },
        ).fetchone()
        if changed is not None:
            conn.execute(
                "INSERT INTO delivery_runs (run_id, delivery, attempt) VALUES (%s, %s, %s)"
                " ON CONFLICT (run_id) DO NOTHING",
                (run_id, source.delivery, changed[0]),
            )


def requeue(url: str, source: Source) -> bool:
    """Put the delivery back in the queue with a new retry budget; False when it is no
    longer done, dead or needs-attention."""
    assert source.delivery is not None
    with connect(url) as conn:
        changed = conn.execute(
            "UPDATE deliveries SET status = 'queued', retry_base = attempts, takeovers = 0,"
            " resume_run = NULL, next_attempt_at = NULL, error = NULL, finished_at = NULL,"
            " run_status = NULL, output = NULL, lease_owner = NULL, lease_until = NULL,"
            " published_at = NULL, updated_at = now()"
            " WHERE id = %s AND status = ANY(%s)",
            (source.delivery, list(REPLAYABLE)),
        ).rowcount
    return bool(changed)


def queue_new(url: str, source: Source) -> Accepted:
    """A run without a delivery (``run-pipeline``'s) queued as a new ``replay`` delivery
    (the dispatcher publishes it)."""
    run_id = new_run_id()
    with connect(url) as conn:
        conn.execute(
            "INSERT INTO deliveries (id, first_run, run_id, pipeline, trigger, input)"
            " VALUES (%s, %s, %s, %s, 'replay', %s::json)",
            (run_id, run_id, run_id, source.pipeline, dumps(source.input)),
        )
    return Accepted(run_id, False)
