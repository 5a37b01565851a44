"""The worker pool: threads that take deliveries from the intake and run them.

Workers are threads, not processes: runs wait on HTTP, threads share pooled connections,
caches and one history writer, and a crash is made safe by the durable intake (a delivery
stays in the table until its run is recorded), not by process isolation.

Each worker claims the oldest delivery due whose pipeline has a free slot (the per-
pipeline lock rule of ``_locks``, the one ``run-pipeline`` under cron obeys too), runs it
through the engine under the run id fixed at intake, with checkpoints so that a run a
crash cut short resumes at its first unfinished step, and records where the delivery
stands: ``done``; ``retry-wait`` then another attempt (the trigger's ``retry``); ``dead``
after the last attempt; ``needs-attention`` when resuming would resend a request that is
not safe to send twice.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._checkpoint import CheckpointStore
from .._engine import RunResult
from .._errors import UsageError
from .._locks import acquire
from .._log import RunLog
from .._model import Pipeline
from .._recorder import Recorder
from .._runtime import Runtime
from .._store_schema import HEARTBEAT_SECONDS
from ._intake_claims import Claim, Claims, Releasable
from ._intake_sqlite import SqliteIntake
from ._queue import RunOutcome
from ._run_delivery import execute, verdict

__all__ = ["DEFAULT_WORKERS", "WorkerPool"]

#: Worker threads of ``hookline serve`` (``--workers``).
DEFAULT_WORKERS = 4
#: Seconds an idle worker waits before it looks at the table again: deliveries queued by
#: another process (``replay --queue``) and retries that came due are seen this late.
_IDLE_POLL = 1.0

_STOPPING = "the service is stopping; the run resumes at its next start"

#: Days a done delivery (its input and its dedup key) is kept (HOOKLINE_DELIVERY_DAYS):
#: a delivery sent again with the same key within this time is a duplicate, and
#: ``hookline replay`` finds its original input. Dead and needs-attention deliveries are
#: kept until they are replayed.
KEEP_DONE_DAYS = 7.0
_SWEEP_SECONDS = 3600.0

Lookup = Callable[[str], Pipeline | None]


def keep_days_from_env(env: Mapping[str, str]) -> float:
    """HOOKLINE_DELIVERY_DAYS, checked: a number of days over 0."""
    text = env.get("HOOKLINE_DELIVERY_DAYS", "").strip()
    if not text:
        return KEEP_DONE_DAYS
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days < float("inf"):
        raise UsageError(f"HOOKLINE_DELIVERY_DAYS={text!r}: expected a number of days over 0")
    return days


class WorkerPool:
    """``workers`` threads running deliveries of ``intake``.

    ``lookup(name)`` gives the pipeline a delivery names (None: not served any more; the
    delivery waits). ``recorder`` is the run history shared by every worker (one writer
    thread for the process); ``make_log()`` a log for one run.
    """

    def __init__(
        self,
        intake: SqliteIntake,
        *,
        home: Path,
        lookup: Lookup,
        recorder: Recorder | None = None,
        workers: int = DEFAULT_WORKERS,
        make_log: Callable[[], RunLog] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.intake = intake
        self.home = Path(home)
        self.lookup = lookup
        self.recorder = recorder
        self.size = max(1, workers)
        self.make_log = make_log or (lambda: RunLog(sys.stderr))
        self.env = os.environ if env is None else env
        self.claims = Claims(intake.path, intake.durability)
        sync = "FULL" if intake.durability == "power" else "NORMAL"
        self.checkpoints = CheckpointStore(intake.path, synchronous=sync)
        self._stopping = threading.Event()
        self._cancelling = threading.Event()
        self._threads: list[threading.Thread] = []
        self._live: dict[int, tuple[Claim, Runtime | None]] = {}  # by delivery id
        self._lock = threading.Lock()
        self._heart: threading.Thread | None = None
        self.recovered: list[dict[str, Any]] = []
        self.keep_done_days = keep_days_from_env(self.env)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Take back what a dead process left running, then start the workers."""
        try:
            self.recovered = self.claims.recover()
        except sqlite3.Error as exc:  # a database busy past the wait: the heartbeat retries
            self.make_log().warning(
                f"cannot look for deliveries a stopped process left unfinished: {exc}; "
                "trying again in the background",
                event="recover_failed",
            )
        if self.recovered:
            self.intake.requeued(len(self.recovered))
        for index in range(self.size):
            thread = threading.Thread(
                target=self._work, name=f"hookline-worker-{index + 1}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._heart = threading.Thread(target=self._beat, name="hookline-worker-beat", daemon=True)
        self._heart.start()

    def stop(self, grace: float = 30.0, cancel_wait: float = 5.0) -> list[str]:
        """Stop claiming; wait up to ``grace`` seconds for the runs under way, then cancel
        those still going (their deliveries stay queued, resumed at the next start).
        Returns the run ids cancelled."""
        self._stopping.set()
        self.intake.wake_workers()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        cancelled = []
        self._cancelling.set()
        with self._lock:
            for claim, runtime in self._live.values():
                if runtime is not None:
                    runtime.cancel(_STOPPING)
                    cancelled.append(claim.run_id)
        deadline = time.monotonic() + cancel_wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._heart is not None:
            self._heart.join(HEARTBEAT_SECONDS + 1)
        # A run stuck past all this stays 'running' in the table; the next start sees
        # this process gone and takes it back.
        self.checkpoints.close()
        self.claims.close()
        return cancelled

    def running(self) -> int:
        with self._lock:
            return len(self._live)

    # --- a worker -------------------------------------------------------------------

    def _take(self, name: str) -> Releasable | None:
        pipeline = self.lookup(name)
        if pipeline is None:
            return None
        slots = getattr(pipeline, "concurrency", None) or 1
        return acquire(self.home, name, slots)

    def _work(self) -> None:
        while not self._stopping.is_set():
            news = self.intake.news
            try:
                got = self.claims.claim(self._take)
            except Exception as exc:  # the database is locked or broken: say so, retry
                self.make_log().error(f"cannot take a delivery from the queue: {exc}")
                self._stopping.wait(_IDLE_POLL)
                continue
            if got is None:
                with self.intake.work:
                    # Work that came while this worker looked is not waited for.
                    if self.intake.news == news and not self._stopping.is_set():
                        self.intake.work.wait(_IDLE_POLL)
                continue
            claim, held = got
            self.intake.took()
            try:
                self._run(claim)
            except Exception as exc:  # the outcome could not be written (a full disk)
                self.make_log().error(
                    f"run {claim.run_id} of '{claim.pipeline}': cannot record how it ended: "
                    f"{exc}; it is taken up again once its heartbeat is stale",
                    event="record_failed",
                )
            finally:
                held.release()
                # Another worker may be waiting for this pipeline's slot.
                self.intake.wake_workers(all_of_them=False)

    def _run(self, claim: Claim) -> None:
        with self._lock:
            self._live[claim.id] = (claim, None)
        try:
            ended = self.claims.ended_run(claim.run_id) if claim.resume else None
            if ended is not None:  # it ended before the crash: only its outcome was lost
                result = RunResult(claim.run_id, ended[0], ended[1], ended[2])
            else:
                result = self._execute(claim)
            self._record(claim, result)
        finally:
            with self._lock:
                self._live.pop(claim.id, None)

    def _execute(self, claim: Claim) -> RunResult:
        def started(runtime: Runtime) -> None:
            with self._lock:
                self._live[claim.id] = (claim, runtime)
                if self._cancelling.is_set():  # stop() cancelled the others before this began
                    runtime.cancel(_STOPPING)

        return execute(
            self.lookup(claim.pipeline),
            claim,
            env=self.env,
            log=self.make_log(),
            recorder=self.recorder,
            checkpoint=self.checkpoints.for_run(claim.run_id),
            started=started,
        )

    def _record(self, claim: Claim, result: RunResult) -> None:
        next_ = verdict(claim, result, self.lookup(claim.pipeline))
        retry_at = None if next_.retry_in is None else time.time() + next_.retry_in
        self.claims.finish(
            claim, next_.status, error=next_.error, retry_at=retry_at, run_status=next_.run_status
        )
        if next_.status in ("queued", "retry-wait"):
            self.intake.requeued()
        if next_.warning is not None:
            self.make_log().warning(next_.warning, event="run_retry")
        if next_.status != "queued":
            self.intake.publish(
                claim.first_run, RunOutcome(next_.outcome, result.output, result.error)
            )

    def _beat(self) -> None:
        """Every HEARTBEAT_SECONDS: stamp the deliveries under way, and take back those a
        process that died left running; every hour, forget old done deliveries."""
        swept = 0.0
        while True:
            if time.monotonic() - swept >= _SWEEP_SECONDS:
                swept = time.monotonic()
                with contextlib.suppress(Exception):  # a busy database: next hour
                    self.claims.forget_done(time.time() - self.keep_done_days * 86400)
            if self._stopping.wait(HEARTBEAT_SECONDS):
                return
            with self._lock:
                ids = list(self._live)
            try:
                self.claims.beat(ids)
                back = self.claims.recover(live=set(ids))
            except Exception:
                continue
            if back:
                self.intake.requeued(len(back))
                self.intake.wake_workers()
