"""What the worker pool writes to the ``deliveries`` table: claims, outcomes, heartbeats,
and taking back the deliveries of a process that died.

A claim is a conditional update (``WHERE status = <what was read>``), so two pools on one
database never both run a delivery; a pool claims only deliveries whose pipeline slot it
already holds (``_locks``), so a run never waits for a slot with a delivery in hand.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from .._store_schema import HOST, lost_reason
from ._intake_store import (
    COMMIT_TIMEOUT,
    DURABILITY,
    Durability,
    connect,
    delivery_input,
    new_run_id,
    patiently,
    rows,
    transaction,
)

__all__ = ["Claim", "Claims", "Releasable"]


class Releasable(Protocol):
    """A pipeline slot (``_locks.Held``)."""

    def release(self) -> None: ...


_SCAN = 64  # waiting deliveries looked at per claim: enough to pass busy pipelines
_FORGET_BATCH = 1000  # done deliveries deleted per transaction


@dataclass(frozen=True)
class Claim:
    """A delivery a worker took: run it as ``run_id`` (attempt number ``attempt``)."""

    id: int
    first_run: str  # the run id given at intake: sync replies wait under this name
    run_id: str
    pipeline: str
    trigger: str
    input: Any
    attempt: int  # 1 for the delivery's first run; counts every run it had
    tries: int  # runs since it was (re)queued: what the trigger's retry counts
    resume: bool  # a run a crash or a stop cut short: resume it from its checkpoints


class Claims:
    """The pool's connection to the deliveries table (one, shared under a lock)."""

    def __init__(self, path: Path, durability: Durability = DURABILITY) -> None:
        self._db = connect(path, durability)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _do(self, action: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            return patiently(lambda: action(self._db), COMMIT_TIMEOUT * 6)

    def claim(
        self, take: Callable[[str], Releasable | None], now: float | None = None
    ) -> tuple[Claim, Releasable] | None:
        """The oldest delivery due whose pipeline slot ``take(name)`` gets, marked running
        by this process, with that slot; None if no delivery is due or every due one's
        pipeline is busy."""
        moment = time.time() if now is None else now
        busy: set[str] = set()
        while True:
            # Past the pipelines found busy, so that a backlog of one busy pipeline never
            # hides the deliveries of the others behind it.
            due = self._do(partial(_due, moment=moment, busy=sorted(busy)))
            for row in due:
                if row["pipeline"] in busy:
                    continue
                held = take(row["pipeline"])
                if held is None:
                    busy.add(row["pipeline"])
                    continue
                try:
                    claim = self._do(partial(self._mark_running, row=row, moment=moment))
                except BaseException:
                    held.release()
                    raise
                if claim is not None:
                    return claim, held
                held.release()  # another pool claimed it first
            if len(due) < _SCAN:
                return None

    def _mark_running(
        self, db: sqlite3.Connection, *, row: dict[str, Any], moment: float
    ) -> Claim | None:
        resume = row["resume_run"] is not None
        attempt = row["attempts"] + (0 if resume else 1)
        # The first attempt runs under the id given at intake; a resumed one keeps its own.
        run_id = row["run_id"] if row["attempts"] == 0 else new_run_id()
        run_id = row["resume_run"] if resume else run_id
        with transaction(db):
            changed = db.execute(
                "UPDATE deliveries SET status = 'running', attempts = ?, last_run = ?,"
                " resume_run = NULL, next_attempt_at = NULL, claimed_pid = ?,"
                " claimed_host = ?, heartbeat_at = ? WHERE id = ? AND status = ?",
                (attempt, run_id, os.getpid(), HOST, moment, row["id"], row["status"]),
            ).rowcount
            if not changed:
                return None
            db.execute(
                "INSERT OR IGNORE INTO delivery_runs (run_id, delivery, attempt) VALUES (?, ?, ?)",
                (run_id, row["id"], attempt),
            )
            text = db.execute("SELECT input FROM deliveries WHERE id = ?", (row["id"],)).fetchone()
        return Claim(
            id=row["id"],
            first_run=row["run_id"],
            run_id=run_id,
            pipeline=row["pipeline"],
            trigger=row["trigger"],
            input=delivery_input({"input": text[0]}),
            attempt=attempt,
            tries=attempt - row["retry_base"],
            resume=resume,
        )

    def rename_run(self, claim: Claim, run_id: str) -> None:
        """The engine named the run itself (an engine without ``run_id=``)."""
        if run_id == claim.run_id:
            return

        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.execute("UPDATE deliveries SET last_run = ? WHERE id = ?", (run_id, claim.id))
                db.execute("DELETE FROM delivery_runs WHERE run_id = ?", (claim.run_id,))
                db.execute(
                    "INSERT OR IGNORE INTO delivery_runs (run_id, delivery, attempt)"
                    " VALUES (?, ?, ?)",
                    (run_id, claim.id, claim.attempt),
                )

        self._do(write)

    def finish(
        self,
        claim: Claim,
        status: str,
        *,
        error: str | None = None,
        retry_at: float | None = None,
        run_status: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Record where the delivery stands after its run: ``done``, ``retry-wait`` (at
        ``retry_at``), ``dead``, ``needs-attention`` or ``queued`` (stopped; resumed at
        the next start). ``run_status`` rewrites the run's own status in the history
        (``dead``, ``needs-attention``)."""
        moment = time.time()
        resume = (run_id or claim.run_id) if status == "queued" else None

        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.execute(
                    "UPDATE deliveries SET status = ?, error = ?, next_attempt_at = ?,"
                    " resume_run = ?, finished_at = ?, claimed_pid = NULL,"
                    " claimed_host = NULL WHERE id = ?",
                    (
                        status,
                        error,
                        retry_at,
                        resume,
                        moment if status in ("done", "dead", "needs-attention") else None,
                        claim.id,
                    ),
                )
                if run_status is not None:
                    db.execute(
                        "UPDATE runs SET status = ?, error = coalesce(?, error) WHERE id = ?",
                        (run_status, error, run_id or claim.run_id),
                    )

        self._do(write)

    def ended_run(self, run_id: str) -> tuple[str, Any, str | None] | None:
        """The final status, output and error the history holds for ``run_id``, if that
        run ended: a crash between a run's last record and its delivery's leaves this."""
        found = self._do(
            lambda db: db.execute(
                "SELECT status, output, error FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        )
        if found is None or found[0] in ("running", "lost", "interrupted"):
            return None
        status, output, error = found
        return status, json.loads(output) if isinstance(output, str) else None, error

    def forget_done(self, before: float) -> int:
        """Delete the deliveries done before ``before`` (their input and key with them:
        a key is a duplicate only while its delivery is kept); the count deleted.

        A thousand per transaction: a week of deliveries deleted at once would hold the
        write lock for seconds, and the intake refuses what it cannot commit in 5 s."""

        def delete(db: sqlite3.Connection) -> int:
            with transaction(db):
                ids = [
                    row[0]
                    for row in db.execute(
                        "SELECT id FROM deliveries WHERE status = 'done' AND finished_at < ?"
                        " ORDER BY id LIMIT ?",
                        (before, _FORGET_BATCH),
                    )
                ]
                marks = ", ".join("?" * len(ids))
                if ids:
                    db.execute(f"DELETE FROM delivery_runs WHERE delivery IN ({marks})", ids)
                    db.execute(f"DELETE FROM deliveries WHERE id IN ({marks})", ids)
                return len(ids)

        total = 0
        while True:
            count = int(self._do(delete))
            total += count
            if count < _FORGET_BATCH:
                return total

    def beat(self, ids: list[int]) -> None:
        if not ids:
            return
        marks = ", ".join("?" * len(ids))
        self._do(
            lambda db: db.execute(
                f"UPDATE deliveries SET heartbeat_at = ? WHERE id IN ({marks})"
                " AND status = 'running'",
                (time.time(), *ids),
            )
        )

    def recover(
        self, now: float | None = None, live: set[int] | None = None
    ) -> list[dict[str, Any]]:
        """Deliveries left running by a process that died go back to the queue, to be
        resumed from their run's checkpoints; the rows taken back are returned.

        ``live``: the deliveries this process runs now; one of its own not among them (a
        worker could not record its end) is taken back once its heartbeat is stale."""
        running = self._do(
            lambda db: rows(
                db.execute(
                    "SELECT id, run_id, pipeline, last_run, claimed_pid AS pid,"
                    " claimed_host AS host, heartbeat_at, 'running' AS status"
                    " FROM deliveries WHERE status = 'running'"
                )
            )
        )
        back = []
        for row in running:
            mine = row["pid"] == os.getpid() and row["host"] == HOST
            if mine and (live is None or row["id"] in live):
                continue  # this process runs it
            # One of this process's own that no worker runs: only its heartbeat can tell.
            seen = {**row, "pid": None} if mine else row
            reason = lost_reason({**seen, "started_at": ""}, now)
            if reason is None:
                continue
            changed = self._do(partial(_requeue_lost, delivery=row["id"]))
            if changed:
                back.append({**row, "reason": reason})
        return back


_COLUMNS = "id, run_id, pipeline, trigger, status, attempts, retry_base, resume_run"


def _due(db: sqlite3.Connection, *, moment: float, busy: list[str]) -> list[dict[str, Any]]:
    """The oldest ``_SCAN`` deliveries due, past the ``busy`` pipelines.

    Two queries, each walking the (status, id) index in order, merged here: one query
    with an OR between the statuses makes SQLite sort every waiting delivery first, and
    with ten thousand waiting that sort was most of what a claim cost."""
    skip = f" AND pipeline NOT IN ({', '.join('?' * len(busy))})" if busy else ""
    queued = rows(
        db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'queued'{skip} ORDER BY id LIMIT ?",
            (*busy, _SCAN),
        )
    )
    retries = rows(
        db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'retry-wait'"
            f" AND next_attempt_at <= ?{skip} ORDER BY id LIMIT ?",
            (moment, *busy, _SCAN),
        )
    )
    if not retries:
        return queued
    return sorted(queued + retries, key=lambda row: row["id"])[:_SCAN]


def _requeue_lost(db: sqlite3.Connection, *, delivery: int) -> int:
    return db.execute(
        "UPDATE deliveries SET status = 'queued', resume_run = last_run,"
        " claimed_pid = NULL, claimed_host = NULL WHERE id = ? AND status = 'running'",
        (delivery,),
    ).rowcount
