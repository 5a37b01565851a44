"""The poller of ``hookline serve``: polls every poll trigger on its cron.

One thread sleeps until the next poll of any pipeline is due, then starts that poll in a
worker thread of its own (the listing is a run, with its requests and timeouts; it never
runs on the event loop, nor holds up the other pipelines' polls). A poll is
``triggers.poll_run.poll_once``, as ``run-pipeline`` does it, with one difference: each
change is *queued*, as a ``Delivery`` (trigger ``poll``, the change as input, the key
``poll:<pipeline>:<change>:<id>:<marker>``), and the poll waits until the intake has
committed every one of them before it saves the new baseline. A crash in between
re-fires those changes at the next poll; the intake acknowledges one delivery per key and
pipeline, so a change queued before the crash runs once.

- One poll at a time per pipeline: a poll still running when the next is due is skipped,
  and logged.
- A failed listing, or a delivery the intake refused (a full queue), fires what it fired
  and keeps the baseline: the next poll tries again (the keys keep it from running twice).
- Time: the scheduler's injectable ``Clock``.
- Distributed mode (``hookline.scale._pg_schedule.leader_poller``): a ``gate`` lets only
  the leader among the ``serve`` instances poll (the others let their polls pass), and
  ``stores`` gives the baselines' store in PostgreSQL instead of the history database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._crontime import CronTimes
from ._queue import Delivery, Intake, QueueFull
from ._scheduler import MAX_SLEEP, Clock, SystemClock

if TYPE_CHECKING:
    from .._model import Pipeline
    from .._recorder import Recorder
    from ..triggers.poll import PollSpec
    from ..triggers.poll_store import PollStore
    from ._scheduler import Gate

__all__ = ["PollOutcome", "Poller"]

#: How long a poll waits for the intake to commit the deliveries it queued.
INTAKE_WAIT = 60.0
STOPPING = "the service is stopping; the next poll lists again"


@dataclass
class PollOutcome:
    """One poll done: what tests look at."""

    pipeline: str
    at: float
    ok: bool
    fired: list[str] = field(default_factory=list)  # delivery keys committed
    error: str | None = None


@dataclass
class _Entry:
    pipeline: Pipeline
    spec: PollSpec
    times: CronTimes
    next: float


def _stderr_log() -> Any:
    import sys

    from .._log import RunLog

    return RunLog(sys.stderr)


def _sqlite_stores(db: Path) -> Callable[[], PollStore]:
    def open_store() -> PollStore:
        from ..triggers.poll_store import PollStore

        return PollStore(db)

    return open_store


def poll_pipelines(pipelines: Iterable[Pipeline]) -> list[tuple[Pipeline, PollSpec]]:
    """The pipelines with a poll trigger, and the trigger."""
    from ..triggers.poll import poll_of

    found: list[tuple[Pipeline, PollSpec]] = []
    for pipeline in pipelines:
        spec = poll_of(pipeline)
        if spec is not None:
            found.append((pipeline, spec))
    return found


class Poller:
    """Polls ``pipelines`` (with a poll trigger) into ``intake``; see the module
    docstring. ``start()``, ``stop()``, ``reload()`` as the scheduler's."""

    def __init__(
        self,
        intake: Intake,
        pipelines: Iterable[Pipeline],
        *,
        db: Path | None = None,
        log: Any,
        env: Mapping[str, str],
        recorder: Recorder | None = None,
        clock: Clock | None = None,
        make_log: Callable[[], Any] | None = None,
        stores: Callable[[], PollStore] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.intake = intake
        self.log = log
        self.env = env
        self.recorder = recorder
        if stores is None:
            if db is None:
                raise TypeError("Poller needs db (the history database) or stores")
            stores = _sqlite_stores(Path(db))
        self.stores = stores
        self.gate = gate
        self.clock: Clock = clock or SystemClock()
        self.make_log = make_log or _stderr_log
        self.done: list[PollOutcome] = []  # the latest polls, for tests
        self.keep_done = 1000
        self._entries: dict[str, _Entry] = {}
        self._running: dict[str, threading.Thread] = {}
        self._live: dict[str, Any] = {}  # the listing runtimes under way, to cancel
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._install(pipelines)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hookline-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            running = list(self._running.values())
            for runtime in self._live.values():  # a slow listing must not hold up the stop
                runtime.cancel(STOPPING)
        for thread in running:
            thread.join(timeout)

    def reload(self, pipelines: Iterable[Pipeline]) -> None:
        self._install(pipelines)
        self._wake.set()

    def next_polls(self) -> dict[str, float]:
        with self._lock:
            return {name: entry.next for name, entry in self._entries.items()}

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the polls running now to end (tests)."""
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join(timeout)
        return not any(t.is_alive() for t in running)

    def _install(self, pipelines: Iterable[Pipeline]) -> None:
        now = self.clock.time()
        entries: dict[str, _Entry] = {}
        with self._lock:
            for pipeline, spec in poll_pipelines(pipelines):
                old = self._entries.get(pipeline.name)
                if (
                    old is not None
                    and old.spec.cron == spec.cron
                    and (old.spec.timezone == spec.timezone)
                ):
                    old.pipeline, old.spec = pipeline, spec
                    entries[pipeline.name] = old
                    continue
                times = CronTimes(spec.cron, spec.timezone)
                entries[pipeline.name] = _Entry(pipeline, spec, times, times.next_after(now))
            self._entries = entries

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock.time()
            with self._lock:
                due = [e for e in self._entries.values() if e.next <= now]
                soonest = min((e.next for e in self._entries.values()), default=now + MAX_SLEEP)
            if not due:
                self.clock.wait(soonest, self._wake)
                self._wake.clear()
                continue
            leading = self.gate is None or self.gate.is_leader()
            for entry in due:
                at = entry.next
                with self._lock:
                    entry.next = entry.times.next_after(max(at, now))
                if leading:  # a follower lets the poll pass: the leader runs it
                    self._start_poll(entry, at)

    def _start_poll(self, entry: _Entry, at: float) -> None:
        name = entry.pipeline.name
        with self._lock:
            busy = self._running.get(name)
            if busy is not None and busy.is_alive():
                self.log.info(
                    f"pipeline '{name}': a poll is skipped: the previous poll is still running",
                    event="poll_skipped",
                    pipeline=name,
                )
                return
            thread = threading.Thread(
                target=self._poll,
                args=(entry.pipeline, entry.spec, at),
                name=f"hookline-poll-{name}",
                daemon=True,
            )
            self._running[name] = thread
        thread.start()

    def _poll(self, pipeline: Pipeline, spec: PollSpec, at: float) -> None:
        outcome = PollOutcome(pipeline.name, at, ok=False)
        try:
            self._poll_once(pipeline, spec, outcome)
        except Exception as exc:  # the poller must outlive one bad poll
            outcome.error = str(exc)
            self.log.error(
                f"pipeline '{pipeline.name}': the poll failed: {exc}",
                event="poll_failed",
                pipeline=pipeline.name,
            )
        with self._lock:
            self.done.append(outcome)
            if len(self.done) > self.keep_done:
                del self.done[: len(self.done) - self.keep_done]

    def _poll_once(self, pipeline: Pipeline, spec: PollSpec, outcome: PollOutcome) -> None:
        from .._env import read_env
        from .._runtime import Runtime
        from .._secrets import read_secrets
        from ..triggers.poll_diff import PollProblem
        from ..triggers.poll_run import poll_once

        name = pipeline.name
        log = self.make_log()
        runtime = Runtime(
            pipeline, read_secrets(pipeline, self.env), log=log, recorder=self.recorder
        )
        runtime.env = read_env(pipeline, self.env)
        with self._lock:
            self._live[name] = runtime
            if self._stop.is_set():
                runtime.cancel(STOPPING)

        def fire(items: list[tuple[str, Any]]) -> None:
            futures = [
                self.intake.submit(
                    Delivery(
                        pipeline=name,
                        trigger="poll",
                        input=value,
                        key=key,
                        received_at=self.clock.time(),
                    )
                )
                for key, value in items
            ]
            for (key, _value), future in zip(items, futures, strict=True):
                try:
                    future.result(timeout=INTAKE_WAIT)
                except QueueFull:
                    raise PollProblem("a change was not queued: the queue is full") from None
                outcome.fired.append(key)

        store = self.stores()
        try:
            report = poll_once(pipeline, spec, store, runtime, fire)
        except PollProblem as exc:
            why = runtime.redactor.text(str(exc))
            outcome.error = why
            self.log.error(
                f"pipeline '{name}': the poll fired nothing new and kept its baseline: {why}",
                event="poll_failed",
                pipeline=name,
            )
            return
        finally:
            with self._lock:
                self._live.pop(name, None)
            runtime.close()
            store.close()
        outcome.ok = True
        diff = report.diff
        self.log.info(
            f"pipeline '{name}': poll: {report.records} records"
            + ("" if diff.complete else " (cut short: no deletions)")
            + (", first poll: baseline set" if diff.first_poll else "")
            + f", {len(outcome.fired)} runs queued",
            event="poll_done",
            pipeline=name,
        )
