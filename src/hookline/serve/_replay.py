"""``hookline replay``: run a recorded run's pipeline again with the same input.

The input comes from the run's delivery (the ``deliveries`` table keeps it as it arrived)
when the run was a webhook, schedule or replay delivery; else from the run history, whose
copy is redacted and cut: a history input that shows a masked value (``***``) or was cut
cannot be replayed faithfully, and is refused rather than sent wrong.

Replaying in this process links the new run to the delivery (an extra attempt of it); a
dead or needs-attention delivery whose replay succeeds becomes ``done``. ``--queue``
hands the delivery back to a running ``hookline serve`` instead: the same delivery goes
back to the queue with a fresh run-level retry budget.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import UsageError
from .._redact import MASK
from ._intake_store import connect, delivery_input, find_delivery, patiently, rows, transaction

__all__ = [
    "REPLAYABLE",
    "Source",
    "dead_sources",
    "find_source",
    "history_source",
    "record_replay",
    "requeue",
]

#: Delivery statuses a replay may take: the others are still to run.
REPLAYABLE = ("done", "dead", "needs-attention")


@dataclass(frozen=True)
class Source:
    """What a replay runs: the pipeline file and name, and the input."""

    run_id: str  # the run replayed (its full id)
    pipeline: str
    file: str
    input: Any
    # The delivery's row id, when the run had one (text in distributed mode's PostgreSQL).
    delivery: int | str | None
    trigger: str


def _has_mask(value: Any) -> bool:
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(_has_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mask(v) for v in value)
    return False


def find_source(db: Path, run_id: str) -> Source:
    """The run ``run_id`` (or a unique prefix of one) and the input to replay it with."""
    from .._store_read import History

    if not db.exists():
        raise UsageError(f"no run history at {db} (set HOOKLINE_HOME or --db)")
    history = History(db)
    try:
        run = history.get_run(run_id)
    finally:
        history.close()
    con = connect(db)
    try:
        delivery = patiently(lambda: find_delivery(con, run["id"]), 30.0)
    finally:
        con.close()
    if delivery is not None:
        if delivery["status"] not in REPLAYABLE:
            raise UsageError(
                f"run {run['id']} belongs to a delivery that is {delivery['status']}: "
                "hookline serve runs it; replay it once it is done, dead or needs-attention"
            )
        return Source(
            run["id"],
            run["pipeline"],
            run["file"],
            delivery_input(delivery),
            delivery["id"],
            delivery["trigger"],
        )
    return history_source(run)


def history_source(run: dict[str, Any]) -> Source:
    """A run without a delivery: its input from the history, refused when the history
    cut or masked it (a replay would send something else than the run had)."""
    value = run.get("input")
    if isinstance(value, dict) and value.get("truncated") is True and "start" in value:
        raise UsageError(
            f"run {run['id']}: its input was cut in the run history and no delivery keeps "
            "it whole; run the pipeline with --input instead"
        )
    if _has_mask(value):
        raise UsageError(
            f"run {run['id']}: its input in the run history has masked values ({MASK}) and "
            "no delivery keeps it as it was; run the pipeline with --input instead"
        )
    return Source(run["id"], run["pipeline"], run["file"], value, None, run["trigger"])


def dead_sources(db: Path, pipeline: str) -> list[Source]:
    """Every dead delivery of ``pipeline``, oldest first, with the file of its last run."""
    if not db.exists():
        raise UsageError(f"no run history at {db} (set HOOKLINE_HOME or --db)")
    con = connect(db)
    try:
        found = patiently(
            lambda: rows(
                con.execute(
                    "SELECT d.*, r.file FROM deliveries d LEFT JOIN runs r ON r.id = d.last_run"
                    " WHERE d.pipeline = ? AND d.status = 'dead' ORDER BY d.id",
                    (pipeline,),
                )
            ),
            30.0,
        )
    finally:
        con.close()
    return [
        Source(
            row["last_run"] or row["run_id"],
            pipeline,
            row["file"] or "",
            delivery_input(row),
            row["id"],
            row["trigger"],
        )
        for row in found
    ]


def record_replay(db: Path, source: Source, run_id: str, status: str) -> None:
    """Link the replay's run to the delivery; a delivery whose replay succeeded is done."""
    if source.delivery is None:
        return
    con = connect(db)
    try:

        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                attempts = db.execute(
                    "SELECT attempts FROM deliveries WHERE id = ?", (source.delivery,)
                ).fetchone()[0]
                db.execute(
                    "INSERT OR IGNORE INTO delivery_runs (run_id, delivery, attempt)"
                    " VALUES (?, ?, ?)",
                    (run_id, source.delivery, attempts + 1),
                )
                done = status == "succeeded"
                db.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, last_run = ?,"
                    " status = CASE WHEN ? THEN 'done' ELSE status END,"
                    " error = CASE WHEN ? THEN NULL ELSE error END,"
                    " finished_at = ? WHERE id = ?",
                    (run_id, done, done, time.time(), source.delivery),
                )

        patiently(lambda: write(con), 30.0)
    finally:
        con.close()


def requeue(db: Path, source: Source) -> bool:
    """Put the delivery back in the queue for a running service, with a new retry
    budget; False when it is no longer done, dead or needs-attention."""
    assert source.delivery is not None
    con = connect(db)
    try:
        changed = patiently(
            lambda: (
                con.execute(
                    "UPDATE deliveries SET status = 'queued', retry_base = attempts,"
                    " resume_run = NULL, next_attempt_at = NULL, error = NULL, finished_at = NULL"
                    " WHERE id = ? AND status IN ('done', 'dead', 'needs-attention')",
                    (source.delivery,),
                ).rowcount
            ),
            30.0,
        )
    finally:
        con.close()
    return bool(changed)
