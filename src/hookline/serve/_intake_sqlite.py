"""The embedded intake: deliveries committed to the run-history database by group commit.

``submit`` only appends the delivery to a list and returns a future. One writer thread
takes everything pending, commits it in one transaction, and only then resolves the
futures: a caller that answers 2xx once its future resolves never acknowledges a delivery
the database does not hold. A commit that fails fails every future of its batch with
``IntakeUnavailable`` (the HTTP layer answers 503). One fsync, or none, is paid per batch
instead of per delivery, which is what lets a durable intake take thousands a second.

The worker pool (``_workers``) reads the same table; this object also carries what the
two share in one process: the wake-up when work arrives and the outcome of finished runs
that a sync reply waits for.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .._errors import HooklineError
from ._intake_store import (
    COMMIT_TIMEOUT,
    DURABILITY,
    Durability,
    connect,
    dumps,
    new_run_id,
    patiently,
    transaction,
)
from ._queue import Accepted, Delivery, Intake, IntakeUnavailable, QueueFull, RunOutcome

__all__ = [
    "MAX_QUEUE",
    "PIPELINE_SHARE",
    "QUEUE_FULL_RETRY_AFTER",
    "PipelineQueueFull",
    "SqliteIntake",
]

#: Deliveries waiting (queued or waiting for a retry) past which new ones are refused
#: with 503 and Retry-After, instead of filling the disk.
MAX_QUEUE = 10_000
#: The Retry-After (seconds) of a refusal because the queue is full.
QUEUE_FULL_RETRY_AFTER = 30
#: The share of ``max_queue`` one pipeline's waiting deliveries may fill: past it, that
#: pipeline's deliveries are refused and the rest of the queue stays for the others.
PIPELINE_SHARE = 0.9
#: Finished outcomes kept in memory for sync replies that have not collected them yet.
_OUTCOMES_KEPT = 10_000
#: How often the writer recounts the waiting deliveries from the table, so that those
#: another process queued (``replay --queue``) or took count too.
_RECOUNT_SECONDS = 1.0

#: Seconds between two reads of the table by a sync reply that waits.
_TABLE_POLL = 0.25
#: Seconds between two checkpoints of the WAL while deliveries arrive.
_CHECKPOINT_SECONDS = 0.5

_Pending = tuple[Delivery, "concurrent.futures.Future[Accepted]"]


class PipelineQueueFull(QueueFull):
    """One pipeline's waiting deliveries fill its share of the queue (``PIPELINE_SHARE``)."""

    def __init__(self, pipeline: str, depth: int, retry_after: int) -> None:
        super().__init__(depth, retry_after)
        self.pipeline = pipeline
        self.args = (
            f"the queue holds {depth} deliveries of {pipeline}, its share of the queue; try "
            f"again in {retry_after}s",
        )


class SqliteIntake:
    """The ``Intake`` of one machine, on ``hookline.db`` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = DURABILITY,
        max_queue: int = MAX_QUEUE,
        commit_timeout: float = COMMIT_TIMEOUT,
        max_mb: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.max_queue = max_queue
        self.max_per_pipeline = math.ceil(max_queue * PIPELINE_SHARE)
        self.commit_timeout = commit_timeout
        self._max_mb = max_mb
        self._db = connect(self.path, durability, max_mb)
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._waiting = self._count_waiting()
        self._counted_at = time.monotonic()
        # Workers wait on this for new deliveries; sync replies for outcomes.
        self.work = threading.Condition()
        self.news = 0  # counts wake-ups of ``work``: a worker sees one it was not waiting for
        self._outcomes: collections.OrderedDict[str, RunOutcome] = collections.OrderedDict()
        self._done = threading.Condition()
        self._writer = threading.Thread(
            target=self._write_loop, name="hookline-intake-writer", daemon=True
        )
        self._writer.start()
        # The writer never copies the WAL back into the database itself (that costs an
        # fsync, and every delivery waiting behind it would wait for it): this thread
        # does, after commits, with a checkpoint that never blocks the writer.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._dirty = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="hookline-intake-checkpoint", daemon=True
        )
        self._checkpointer.start()

    # --- Intake -------------------------------------------------------------------

    def submit(self, delivery: Delivery) -> concurrent.futures.Future[Accepted]:
        future: concurrent.futures.Future[Accepted] = concurrent.futures.Future()
        with self._lock:
            if self._closing:
                future.set_exception(IntakeUnavailable("the service is stopping"))
                return future
            self._pending.append((delivery, future))
            if len(self._pending) == 1:
                self._wake.notify()
        return future

    def depth(self) -> int:
        return self._waiting

    def active(self, pipeline: str) -> int:
        return int(
            self._read(
                "SELECT count(*) FROM deliveries WHERE pipeline = ?"
                " AND status IN ('queued', 'retry-wait', 'running')",
                (pipeline,),
            )[0][0]
        )

    def outcome(self, run_id: str, timeout: float) -> RunOutcome | None:
        """From memory when a worker of this process ran it (signalled at once), else
        from the table, read at first and then every quarter second (a run another
        process ran, or one done long ago: the first of a duplicate)."""
        deadline = time.monotonic() + timeout
        read_at = time.monotonic()
        while True:
            with self._done:
                found = self._outcomes.get(run_id)
                now = time.monotonic()
                if found is None and now < read_at and now < deadline:
                    self._done.wait(min(read_at, deadline) - now)
                    continue
            if found is not None:
                return found
            found = self._outcome_in_table(run_id)  # not under the lock: workers go on
            if found is not None or time.monotonic() >= deadline:
                return found
            read_at = time.monotonic() + _TABLE_POLL

    # --- for the worker pool ----------------------------------------------------------

    def publish(self, run_id: str, outcome: RunOutcome) -> None:
        """A run of the delivery first named ``run_id`` ended: wake its sync reply."""
        with self._done:
            self._outcomes[run_id] = outcome
            while len(self._outcomes) > _OUTCOMES_KEPT:
                self._outcomes.popitem(last=False)
            self._done.notify_all()

    def wake_workers(self, all_of_them: bool = True) -> None:
        """New work, or a slot given back: idle workers look at the queue again."""
        with self.work:
            self.news += 1
            if all_of_them:
                self.work.notify_all()
            else:
                self.work.notify()

    def took(self, count: int = 1) -> None:
        """Workers started ``count`` waiting deliveries."""
        with self._lock:
            self._waiting = max(0, self._waiting - count)

    def requeued(self, count: int = 1) -> None:
        with self._lock:
            self._waiting += count

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is pending, refuse what comes after, stop the writer."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._writer.join(timeout)
        self._dirty.set()
        self._checkpointer.join(timeout)
        self._db.close()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # --- the writer -----------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._wake.wait(_RECOUNT_SECONDS)
                    if not self._pending:
                        self._recount_locked()
                batch, self._pending = self._pending, []
                closing = self._closing
            if batch:
                self._commit(batch)
            if closing and not batch:
                return

    def _recount_locked(self) -> None:
        if time.monotonic() - self._counted_at < _RECOUNT_SECONDS:
            return
        with contextlib.suppress(sqlite3.Error):  # the next commit will say what is wrong
            self._waiting = self._count_waiting()
        self._counted_at = time.monotonic()

    def _count_waiting(self) -> int:
        return int(
            self._db.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'retry-wait')"
            ).fetchone()[0]
        )

    def _commit(self, batch: list[_Pending]) -> None:
        results: list[Accepted | BaseException] = []
        try:
            results = patiently(lambda: self._insert(batch), self.commit_timeout)
        except (sqlite3.Error, OSError) as exc:
            reason = IntakeUnavailable(f"the delivery could not be stored: {_reason(exc)}")
            results = [reason] * len(batch)
        except Exception as exc:  # a bug must not leave callers waiting forever
            results = [IntakeUnavailable(f"internal error: {type(exc).__name__}")] * len(batch)
        added = sum(1 for r in results if isinstance(r, Accepted) and not r.duplicate)
        self._dirty.set()
        if added:
            with self._lock:
                self._waiting += added
            self.wake_workers()
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _insert(self, batch: list[_Pending]) -> list[Accepted | BaseException]:
        """One transaction for the batch; what each delivery became."""
        db = self._db
        out: list[Accepted | BaseException] = []
        waiting = self._waiting
        # A pipeline's own count is read only once the whole queue holds more than a
        # pipeline's share (until then no pipeline can be past it), once per batch.
        by_pipeline: dict[str, int] = {}
        with transaction(db):
            for delivery, _ in batch:
                if delivery.key is not None:
                    seen = db.execute(
                        "SELECT run_id FROM deliveries WHERE pipeline = ? AND key = ?",
                        (delivery.pipeline, delivery.key),
                    ).fetchone()
                    if seen is not None:
                        out.append(Accepted(seen[0], True))
                        continue
                if waiting >= self.max_queue:
                    out.append(QueueFull(waiting, QUEUE_FULL_RETRY_AFTER))
                    continue
                name = delivery.pipeline
                if waiting >= self.max_per_pipeline and name not in by_pipeline:
                    by_pipeline[name] = _waiting_of(db, name)
                if by_pipeline.get(name, 0) >= self.max_per_pipeline:
                    out.append(PipelineQueueFull(name, by_pipeline[name], QUEUE_FULL_RETRY_AFTER))
                    continue
                try:
                    text = dumps(delivery.input)
                except (TypeError, ValueError) as exc:  # not JSON: a bug of the caller
                    out.append(IntakeUnavailable(f"the input is not JSON: {exc}"))
                    continue
                run_id = new_run_id()
                db.execute(
                    "INSERT INTO deliveries (run_id, pipeline, trigger, input, key,"
                    " received_at, status) VALUES (?, ?, ?, ?, ?, ?, 'queued')",
                    (
                        run_id,
                        delivery.pipeline,
                        delivery.trigger,
                        text,
                        delivery.key,
                        delivery.received_at or time.time(),
                    ),
                )
                waiting += 1
                if name in by_pipeline:
                    by_pipeline[name] += 1
                out.append(Accepted(run_id, False))
        return out

    def _checkpoint_loop(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            while True:
                self._dirty.wait()
                with self._lock:
                    closing = self._closing
                self._dirty.clear()
                if closing and not self._writer.is_alive():
                    return
                with contextlib.suppress(sqlite3.Error, HooklineError):
                    db = db or connect(self.path, self.durability, self._max_mb)
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                time.sleep(_CHECKPOINT_SECONDS)  # at most this often
        finally:
            if db is not None:
                db.close()

    # --- reading ----------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        # A connection of its own: the writer's may be inside a transaction.
        with self._read_lock:
            if self._closing:
                raise IntakeUnavailable("the intake is closed")
            if self._reader is None:
                self._reader = connect(self.path, self.durability)
            db = self._reader
            return list(patiently(lambda: db.execute(sql, args).fetchall(), self.commit_timeout))

    def _outcome_in_table(self, run_id: str) -> RunOutcome | None:
        """A finished delivery's last run, read back from the history (redacted)."""
        try:
            found = self._read(
                "SELECT d.status, d.error, r.status, r.output FROM deliveries d"
                " LEFT JOIN runs r ON r.id = d.last_run WHERE d.run_id = ?",
                (run_id,),
            )
        except (sqlite3.Error, HooklineError, IntakeUnavailable):
            return None
        if not found or found[0][0] not in ("done", "dead", "needs-attention"):
            return None
        status, error, run_status, output = found[0]
        value = json.loads(output) if isinstance(output, str) else None
        return RunOutcome(run_status or status, value, error)


def _waiting_of(db: sqlite3.Connection, pipeline: str) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'retry-wait')"
            " AND pipeline = ?",
            (pipeline,),
        ).fetchone()[0]
    )


def _reason(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "the database is locked by another process"
    if name.startswith("SQLITE_READONLY"):
        return "the database is read-only"
    if name == "SQLITE_FULL":
        return "the disk is full, or the database reached its cap (HOOKLINE_HISTORY_MAX_MB)"
    return str(exc) or type(exc).__name__


def _conforms(intake: SqliteIntake) -> Intake:
    """Where mypy checks that SqliteIntake is an Intake (the seam another queue fills)."""
    return intake
