"""The body of the ``hookline.run`` task: one delivery id, claimed, run, recorded.

A message carries only the delivery's id; the row in PostgreSQL says what to run and
where it stands. So a message is a nudge, and every outcome of a nudge is safe:

- the row is claimed (``Deliveries.claim``: one conditional UPDATE) under this worker's
  lease, ``LEASE_SECONDS`` long, renewed every third of it while the run goes;
- a row finished, not yet due, or held by a live lease of another worker: the message is
  a duplicate or early; it is acknowledged and nothing runs (the dispatcher publishes
  the row again when it is due, or when that worker's lease expires);
- the pipeline's run slots (``concurrency``, Redis leases shared by every worker) are all
  held: the worker waits up to ``SLOT_WAIT`` seconds for one, then gives the claim back
  (``unclaim``: the attempt is not counted) and acknowledges the message; the leader's
  dispatcher publishes the row again at its next round. A message is not requeued on
  the broker instead: a worker would take it straight back while the slots are held, a
  loop that costs the database a claim each turn;
- the run goes through ``serve._run_delivery`` (the embedded worker pool's code): the
  same checkpoints (in PostgreSQL), so a run cut short resumes at its first unfinished
  step, the same retry rule, the same statuses;
- a run stopped by the worker's SIGTERM (past ``--grace``) is handed back: its row queued
  with its lease cleared, the message requeued on the broker, so another worker resumes
  it from its checkpoints at once;
- the database cannot be reached to claim (a connection error, a pool timeout, a
  statement cancelled): the message is requeued after a pause (``DATABASE_PAUSE``), so it
  waits in the broker rather than being lost or spun on. Any other claim error is the
  message's or the row's, not an outage: it is logged once per delivery and the message
  acknowledged (a due row is published again by the dispatcher), never requeued for ever;
- a delivery taken over whose run had ended (its worker died between the run's final
  record and the delivery's outcome): the outcome is taken from the history, and the run
  is not run again (its checkpoints went with its end);
- a worker that paused past its lease (a frozen machine, a partition from the database)
  and whose delivery was taken over: its run is stopped at the next renewal, and neither
  the run's final record nor the delivery's outcome is written by it;
- a worker that could not renew a lease for a whole lease (the database out of reach,
  slow, or the worker paused) no longer knows that it holds it, and another worker may
  have taken the delivery over: its run is stopped then (at its next step, retry wait or
  iteration), whatever the database says later, and it writes neither the run's final
  record nor the delivery's outcome; the worker that claims the delivery next resumes it
  from its checkpoints. A watch thread checks this, so a renewal stuck on the database
  does not delay it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import psycopg

from .._checkpoint import Checkpoints
from .._coord import SlotLease, shared
from .._engine import RunResult
from .._log import RunLog
from .._model import Pipeline
from .._recorder import Recorder
from .._runtime import Runtime
from ..serve._run_delivery import execute, verdict
from ._pg_deliveries import Claim, Deliveries
from ._worker_admin import WorkerMetrics
from ._worker_lease import LEASE_SECONDS, LOST, LeaseGuard, LeaseKeeper, Live, one_line

__all__ = ["DATABASE_PAUSE", "SLOT_WAIT", "HandBack", "TaskRunner"]

#: Seconds a claimed delivery waits for a run slot of its pipeline before it is given back.
SLOT_WAIT = 1.0
_SLOT_POLL = 0.05
#: Seconds a task waits after the database could not be reached, before its message is
#: handed back to the broker.
DATABASE_PAUSE = 2.0
#: Seconds between two log lines of failed claims (the database down).
CLAIM_ERROR_EVERY = 60.0
# Deliveries whose claim failed for a reason of their own, remembered so that each is
# logged once (the dispatcher may publish a due row again and again); bounded.
_REFUSED_KEPT = 1000

_STOPPING = "the worker is stopping; the run is handed back and resumes on another worker"


class HandBack(Exception):
    """The message goes back to the broker (the task raises Celery's ``Reject``)."""


class CheckpointSource(Protocol):
    def for_run(self, run_id: str, *, fresh: bool = False) -> Checkpoints: ...


class TaskRunner(LeaseKeeper):
    """Runs the deliveries the worker's Celery tasks name; shared by the task threads."""

    def __init__(
        self,
        deliveries: Deliveries,
        *,
        owner: str,
        lookup: Callable[[str], Pipeline | None],
        recorder: Recorder | None,
        checkpoints: CheckpointSource,
        env: Mapping[str, str],
        make_log: Callable[[], RunLog],
        metrics: WorkerMetrics,
        lease_seconds: float = LEASE_SECONDS,
        ended_run: Callable[[str], tuple[str, Any, str | None] | None] | None = None,
        requeue: Callable[[str], None] | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.owner = owner
        self.lookup = lookup
        # The run's final record is written only while this worker holds the lease: a
        # worker that paused past it must not overwrite the record of the one that took
        # the delivery over.
        self.recorder: Recorder | None = (
            None if recorder is None else cast(Recorder, LeaseGuard(recorder, self))
        )
        self.checkpoints = checkpoints
        self.env = env
        self.make_log = make_log
        self.metrics = metrics
        self.lease_seconds = lease_seconds
        self.ended_run = ended_run
        self.requeue = requeue  # publish a delivery's id again (a run abandoned at a stop)
        self._lock = threading.Lock()
        self._live: dict[str, Live] = {}  # by delivery id
        # Deliveries whose lease this worker lost (another took it, or it could not be
        # renewed for a whole lease), with why: their runs are stopped, record nothing.
        self._lost: dict[str, str] = {}
        self._abandoned: set[str] = set()  # handed back while their run still went
        self._stopping = threading.Event()
        self._cancelled = threading.Event()
        self._closed = threading.Event()
        self._heart: threading.Thread | None = None
        self._watch: threading.Thread | None = None
        self._claim_error_at = -CLAIM_ERROR_EVERY
        self._refused: OrderedDict[str, None] = OrderedDict()

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._heart = threading.Thread(target=self._beat, name="hookline-lease", daemon=True)
        self._heart.start()
        self._watch = threading.Thread(
            target=self._watch_leases, name="hookline-lease-watch", daemon=True
        )
        self._watch.start()

    def stop_taking(self) -> None:
        """SIGTERM: tasks that start from now on hand their message back unrun."""
        self._stopping.set()

    def cancel_all(self) -> list[str]:
        """Past the grace period: stop the runs under way (each is handed back); their
        run ids."""
        self._cancelled.set()
        cancelled = []
        with self._lock:
            for live in self._live.values():
                if live.runtime is not None:
                    live.runtime.cancel(_STOPPING)
                    cancelled.append(live.claim.run_id)
        return cancelled

    def abandon(self) -> list[str]:
        """The runs still going once cancelled (a request under way that does not end):
        hand them back now, as a run cancelled between two steps is (row queued, lease
        cleared, slot released, id published again), for the worker to exit without
        them. Their threads record nothing afterwards. Their run ids."""
        with self._lock:
            stuck = list(self._live.values())
            self._abandoned.update(live.claim.id for live in stuck)
        for live in stuck:
            self.make_log().warning(
                f"run {live.claim.run_id} of '{live.claim.pipeline}': handed back to the "
                "queue while a request was under way",
                event="handed_back",
            )
            try:
                self.deliveries.finish(live.claim, "queued", error=_STOPPING)
            except Exception as exc:  # its lease expires: the dispatcher publishes it then
                self.make_log().warning(
                    f"delivery {live.claim.id}: cannot hand it back: {one_line(exc)}; it "
                    "is taken up again once its lease expires",
                    event="hand_back_failed",
                )
            if live.held is not None:
                live.held.release()
            if self.requeue is not None:
                # A failed publish: the row is unpublished, the dispatcher publishes it.
                with contextlib.suppress(Exception):
                    self.requeue(live.claim.id)
        return [live.claim.run_id for live in stuck]

    def close(self) -> None:
        """Once no task runs any more: stop renewing leases."""
        self._stopping.set()
        self._closed.set()
        if self._heart is not None:
            self._heart.join(self.lease_seconds / 3 + 5)
        if self._watch is not None:
            self._watch.join(self.lease_seconds / 6 + 5)

    def running(self) -> int:
        with self._lock:
            return len(self._live)

    # --- a task -----------------------------------------------------------------------

    def run(self, delivery_id: str, redelivered: bool = False) -> str:
        """Run delivery ``delivery_id``; what happened, in a word, for the log and tests:
        ``ran``, ``not due`` (finished, early, or held by another worker), ``busy``
        (given back: no free slot), ``lost`` (another worker took it over).
        Raises HandBack when the message must go back to the broker."""
        if self._stopping.is_set():
            raise HandBack(_STOPPING)
        asked = time.monotonic()  # the lease runs from the claim's statement on
        try:
            claim = self.deliveries.claim(delivery_id, self.owner, self.lease_seconds)
        except psycopg.OperationalError as exc:  # the database is down (a pool timeout
            # is one too): keep the message in the broker
            now = time.monotonic()
            with self._lock:  # every message fails alike while it is down: say it once
                quiet = now - self._claim_error_at < CLAIM_ERROR_EVERY
                if not quiet:
                    self._claim_error_at = now
            if not quiet:
                self.make_log().error(
                    f"delivery {delivery_id}: cannot claim it: {one_line(exc)}; it goes "
                    f"back to the queue (this is said once a minute while it lasts)",
                    event="claim_failed",
                )
            self._stopping.wait(DATABASE_PAUSE)
            raise HandBack(str(exc)) from None
        except Exception as exc:  # the row's or the message's: requeued, it would fail again
            self._refuse(delivery_id, exc)
            return "refused"
        if claim is None:
            return "not due"
        if claim.takeover:
            self.metrics.takeovers.inc()
        if claim.resume or redelivered:
            self.metrics.redeliveries.inc()
        pipeline = self.lookup(claim.pipeline)
        held = self._slot(pipeline) if pipeline is not None else None
        if pipeline is not None and held is None:
            self._give_back(claim)
            return "busy"
        with self._lock:
            self._live[claim.id] = Live(claim, held, renewed=asked)
        try:
            return self._run(claim, pipeline)
        finally:
            with self._lock:
                self._live.pop(claim.id, None)
                self._lost.pop(claim.id, None)
                abandoned = claim.id in self._abandoned
            if held is not None and not abandoned:
                held.release()

    def _refuse(self, delivery_id: str, exc: Exception) -> None:
        """A claim that failed for a reason of its own: said once per delivery."""
        with self._lock:
            if delivery_id in self._refused:
                return
            self._refused[delivery_id] = None
            while len(self._refused) > _REFUSED_KEPT:
                self._refused.popitem(last=False)
        self.make_log().error(
            f"delivery {delivery_id}: cannot claim it: {one_line(exc)}; its message is "
            "dropped (this is said once for this delivery)",
            event="claim_refused",
        )

    def _slot(self, pipeline: Pipeline) -> SlotLease | None:
        backend = shared()
        if backend is None:  # the worker installs Redis before it takes tasks
            raise RuntimeError("no coordination backend: the worker did not install Redis")
        slots = getattr(pipeline, "concurrency", None) or 1
        deadline = time.monotonic() + SLOT_WAIT
        while True:
            try:
                held = backend.acquire_slot(pipeline.name, slots)
            except OSError as exc:
                self.make_log().error(
                    f"pipeline '{pipeline.name}': cannot take a run slot: {exc}",
                    event="slot_failed",
                )
                return None
            if held is not None or time.monotonic() >= deadline:
                return held
            if self._stopping.wait(_SLOT_POLL):
                return None

    def _give_back(self, claim: Claim) -> None:
        try:
            self.deliveries.unclaim(claim)
        except Exception as exc:  # its lease expires: the dispatcher publishes it then
            self.make_log().warning(
                f"delivery {claim.id}: cannot give it back: {one_line(exc)}; it is taken "
                f"up again once its lease expires",
                event="unclaim_failed",
            )
        if self._stopping.is_set():
            raise HandBack(_STOPPING)

    def _run(self, claim: Claim, pipeline: Pipeline | None) -> str:
        began = time.monotonic()
        ended_with: list[bool] = []
        ended = self._ended(claim)
        if ended is not None:  # it ended before its worker died: only the outcome was lost
            result = RunResult(claim.run_id, *ended)
        else:

            def started(runtime: Runtime) -> None:
                with self._lock:
                    self._live[claim.id].runtime = runtime
                    if claim.id in self._lost:
                        runtime.cancel(self._lost[claim.id])
                    elif self._cancelled.is_set():
                        runtime.cancel(_STOPPING)

            # A claim that is no resumption runs under an id no run had: nothing to load.
            marks = self.checkpoints.for_run(claim.run_id, fresh=not claim.resume)
            ended_with = self._at_end(claim, marks)
            try:
                result = execute(
                    pipeline,
                    claim,
                    env=self.env,
                    log=self.make_log(),
                    recorder=self.recorder,
                    checkpoint=marks,
                    started=started,
                )
            finally:
                forget = getattr(self.recorder, "forget_then", None)
                if forget is not None:
                    forget(claim.run_id)
            self.metrics.run_finished(claim.pipeline, result.status, time.monotonic() - began)
        with self._lock:
            lost = self._lost.get(claim.id)
            if claim.id in self._abandoned:  # handed back already, as the worker stopped
                return "abandoned"
        if ended is None and ended_with:
            # Recorded with the run's final record, in its transaction.
            return self._recorded(claim, ended_with[0])
        if lost is not None:
            if lost == LOST:  # an expired lease was said when the run was stopped
                self.make_log().warning(
                    f"run {claim.run_id} of '{claim.pipeline}': {LOST}; its outcome is "
                    "that worker's to record",
                    event="lease_lost",
                )
            return "lost"
        return self._record(claim, result, pipeline)

    def _at_end(self, claim: Claim, marks: Checkpoints) -> list[bool]:
        """A succeeded run's delivery outcome and checkpoints' removal, written by the
        history in the transaction of the run's final record (one commit, not three).
        The list it returns holds, once that committed, whether the lease was still this
        worker's; empty: ``_record`` writes the outcome itself, as for any other end."""
        box: list[bool] = []
        then = getattr(self.recorder, "then", None)
        clear_in = getattr(marks, "clear_in", None)
        removed = getattr(marks, "removed", None)
        if then is None or clear_in is None or removed is None:
            return box

        def at_end(conn: Any, output: Any) -> Callable[[], None]:
            kept = self.deliveries.finish(
                claim, "done", outcome="succeeded", output=output, conn=conn
            )
            clear_in(conn)

            def committed() -> None:
                box.append(kept)
                removed()

            return committed

        then(claim.run_id, at_end)
        return box

    def _ended(self, claim: Claim) -> tuple[str, Any, str | None] | None:
        if not claim.resume or self.ended_run is None:
            return None
        try:
            return self.ended_run(claim.run_id)
        except Exception:  # the history cannot say: run it (checkpoints skip what is done)
            return None

    def _record(self, claim: Claim, result: RunResult, pipeline: Pipeline | None) -> str:
        next_ = verdict(claim, result, pipeline)
        try:
            kept = self.deliveries.finish(
                claim,
                next_.status,
                error=next_.error,
                retry_in=next_.retry_in,
                run_status=next_.run_status,
                outcome=next_.outcome,
                output=result.output,
            )
        except Exception as exc:  # its lease expires; the next claim finds the run ended
            self.make_log().error(
                f"run {claim.run_id} of '{claim.pipeline}': cannot record how it ended: "
                f"{one_line(exc)}; it is taken up again once its lease expires",
                event="record_failed",
            )
            return "ran"
        if not kept:
            return self._recorded(claim, kept)
        if next_.warning is not None:
            self.make_log().warning(next_.warning, event="run_retry")
        if next_.status == "queued":  # stopped: another worker resumes it now
            self.make_log().warning(
                f"run {claim.run_id} of '{claim.pipeline}': handed back to the queue",
                event="handed_back",
            )
            raise HandBack(result.error or _STOPPING)
        return "ran"

    def _recorded(self, claim: Claim, kept: bool) -> str:
        if kept:
            return "ran"
        self.make_log().warning(
            f"run {claim.run_id} of '{claim.pipeline}': {LOST}; its outcome is that "
            "worker's to record",
            event="lease_lost",
        )
        return "lost"
