"""The distributed intake: deliveries committed to PostgreSQL by group commit, then
published to Celery.

``submit`` appends the delivery to a list and returns a future. One writer thread
commits everything pending in one transaction (``_pg_delivery_insert.insert_batch``) and only
then resolves the futures: a 2xx is never sent for a delivery the database does not hold.
A commit that fails (the database down, the pool empty past ``COMMIT_TIMEOUT``) fails
every future of its batch with ``IntakeUnavailable`` (503).

After the commit, a publisher thread sends ``hookline.run(id)`` for each new delivery. A
publish that fails is no error to the sender (the row is committed): the row is marked
unpublished and the leader's dispatcher publishes it later.

Sync replies: ``outcome`` is asked from the event loop with a timeout of 0, so it never
reads the database itself. A watcher thread reads the outcomes of every delivery waited
for in one query, every ``_WATCH_SECONDS``, and keeps them for the askers.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import PoolTimeout

from ..serve._intake_sqlite import MAX_QUEUE, PIPELINE_SHARE, QUEUE_FULL_RETRY_AFTER
from ..serve._intake_store import COMMIT_TIMEOUT
from ..serve._queue import Accepted, Delivery, Intake, IntakeUnavailable, RunOutcome
from ._pg_deliveries import FINISHED, Deliveries
from ._pg_delivery_insert import count_waiting, insert_batch

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ["CeleryIntake"]

#: How often the writer recounts the waiting deliveries when idle: the workers of every
#: machine take from the same table.
_RECOUNT_SECONDS = 1.0
#: How often the watcher reads the outcomes sync replies wait for.
_WATCH_SECONDS = 0.05
#: A delivery no reply asked about for this long is not watched any more.
_WATCH_FORGET = 30.0
#: Outcomes kept for sync replies that have not collected them yet.
_OUTCOMES_KEPT = 10_000

_Pending = tuple[Delivery, "concurrent.futures.Future[Accepted]"]
Publish = Callable[[str], None]


class CeleryIntake:
    """The ``Intake`` of the distributed mode (see the module docstring).

    ``publish(id)`` sends one message (``_celery.publish`` bound to the app); it may
    raise, and may be slow: it runs on a thread of its own."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        publish: Publish,
        *,
        max_queue: int = MAX_QUEUE,
        commit_timeout: float = COMMIT_TIMEOUT,
        on_publish_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.pool = pool
        self.deliveries = Deliveries(pool)
        self._publish = publish
        self._on_publish_failed = on_publish_failed
        self.max_queue = max_queue
        self.max_per_pipeline = math.ceil(max_queue * PIPELINE_SHARE)
        self.commit_timeout = commit_timeout
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._waiting = 0
        self._running = 0
        self._counted_at = 0.0
        self._to_publish: queue.Queue[str | None] = queue.Queue()
        self.publish_failures = 0
        # Why the last commit or count failed; None once the database answers again.
        self.db_error: str | None = None
        # Outcomes sync replies wait for: run id -> last asked (monotonic).
        self._watched: dict[str, float] = {}
        self._outcomes: collections.OrderedDict[str, RunOutcome] = collections.OrderedDict()
        self._done = threading.Condition()
        self._threads = [
            threading.Thread(target=self._write_loop, name="hookline-intake-writer", daemon=True),
            threading.Thread(
                target=self._publish_loop, name="hookline-intake-publisher", daemon=True
            ),
            threading.Thread(target=self._watch_loop, name="hookline-intake-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

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
        """Queued and retry-wait deliveries of every instance, as last counted (at most
        ``_RECOUNT_SECONDS`` old while idle)."""
        return self._waiting

    def running(self) -> int:
        """Deliveries workers run now, on every machine, as last counted."""
        return self._running

    def active(self, pipeline: str) -> int:
        try:
            return self.deliveries.active(pipeline)
        except (psycopg.Error, PoolTimeout) as exc:
            raise IntakeUnavailable(f"the database cannot say: {_reason(exc)}") from None

    def outcome(self, run_id: str, timeout: float) -> RunOutcome | None:
        """The outcome the watcher read for ``run_id``, waiting up to ``timeout`` for it;
        asking (even with 0) has the watcher read it from now on."""
        deadline = time.monotonic() + timeout
        with self._done:
            while True:
                found = self._outcomes.get(run_id)
                if found is not None:
                    self._watched.pop(run_id, None)
                    return found
                self._watched[run_id] = time.monotonic()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._done.notify_all()  # the watcher may be idle
                self._done.wait(left)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is pending, publish what was committed, stop the threads."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._threads[0].join(timeout)
        self._to_publish.put(None)
        self._threads[1].join(timeout)
        with self._done:
            self._done.notify_all()
        self._threads[2].join(timeout)

    # --- the writer -----------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._closing:
                    self._wake.wait(_RECOUNT_SECONDS)
                batch, self._pending = self._pending, []
                closing = self._closing
            if batch:
                self._commit(batch)
            elif closing:
                return
            else:
                self._recount()

    def _recount(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._counted_at < _RECOUNT_SECONDS:
            return
        try:
            with self.pool.connection(timeout=self.commit_timeout) as conn:
                self._waiting, self._running = count_waiting(conn)
            self.db_error = None
        except (psycopg.Error, PoolTimeout, OSError) as exc:  # the next commit says why
            self.db_error = _reason(exc)
        self._counted_at = time.monotonic()

    def _commit(self, batch: list[_Pending]) -> None:
        results: list[Accepted | BaseException]
        try:
            results = self._insert([d for d, _ in batch])
            self.db_error = None
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            self.db_error = _reason(exc)
            reason = IntakeUnavailable(f"the delivery could not be stored: {self.db_error}")
            results = [reason] * len(batch)
        except Exception as exc:  # a bug must not leave callers waiting forever
            results = [IntakeUnavailable(f"internal error: {type(exc).__name__}")] * len(batch)
        added = [r.run_id for r in results if isinstance(r, Accepted) and not r.duplicate]
        with self._lock:
            self._waiting += len(added)
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        for run_id in added:  # after the answers: a publish never delays a 2xx
            self._to_publish.put(run_id)

    def _insert(self, batch: list[Delivery]) -> list[Accepted | BaseException]:
        stale = time.monotonic() - self._counted_at >= _RECOUNT_SECONDS
        with self.pool.connection(timeout=self.commit_timeout) as conn:
            if stale:  # once a second under load: other instances' and workers' work
                self._waiting, self._running = count_waiting(conn)
                self._counted_at = time.monotonic()
            return insert_batch(
                conn,
                batch,
                waiting=self._waiting,
                max_queue=self.max_queue,
                max_per_pipeline=self.max_per_pipeline,
                retry_after=QUEUE_FULL_RETRY_AFTER,
                published=True,
            )

    # --- the publisher ----------------------------------------------------------------

    def _publish_loop(self) -> None:
        while True:
            run_id = self._to_publish.get()
            if run_id is None:
                return
            try:
                self._publish(run_id)
            except Exception as exc:  # the broker is down: the dispatcher publishes later
                failed = [run_id, *self._drain()]
                self.publish_failures += len(failed)
                if self._on_publish_failed is not None:
                    self._on_publish_failed(exc)
                with contextlib.suppress(psycopg.Error, PoolTimeout):
                    self.deliveries.unpublished(failed)
                if None in failed:
                    return

    def _drain(self) -> list[Any]:
        # What waits behind a failed publish is not tried one by one (each try may take
        # the broker's timeout): it is left to the dispatcher with the failed one.
        out: list[Any] = []
        while True:
            try:
                out.append(self._to_publish.get_nowait())
            except queue.Empty:
                return out

    # --- sync replies -----------------------------------------------------------------

    def _watch_loop(self) -> None:
        while True:
            with self._done:
                if self._closing:
                    return
                now = time.monotonic()
                for run_id, asked in list(self._watched.items()):
                    if now - asked > _WATCH_FORGET:
                        del self._watched[run_id]
                ids = list(self._watched)
                if not ids:
                    self._done.wait(_WATCH_SECONDS * 20)
                    continue
            found = self._read_outcomes(ids)
            with self._done:
                for run_id, outcome in found.items():
                    self._outcomes[run_id] = outcome
                    self._watched.pop(run_id, None)
                while len(self._outcomes) > _OUTCOMES_KEPT:
                    self._outcomes.popitem(last=False)
                if found:
                    self._done.notify_all()
            time.sleep(_WATCH_SECONDS)

    def _read_outcomes(self, ids: list[str]) -> dict[str, RunOutcome]:
        try:
            with self.pool.connection(timeout=self.commit_timeout) as conn:
                rows = conn.execute(
                    "SELECT id, status, run_status, output, error FROM deliveries"
                    " WHERE id = ANY(%s) AND status = ANY(%s)",
                    (ids, list(FINISHED)),
                ).fetchall()
        except (psycopg.Error, PoolTimeout):
            return {}  # the replies wait on; past their timeout they answer 202
        return {row[0]: RunOutcome(row[2] or row[1], row[3], row[4]) for row in rows}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PoolTimeout):
        return "no connection to the database"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _conforms(intake: CeleryIntake) -> Intake:
    """Where mypy checks that CeleryIntake is an Intake."""
    return intake
