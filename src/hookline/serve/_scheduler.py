"""The scheduler of ``hookline serve``: fires every schedule trigger on time.

One thread sleeps until the next fire of any schedule, then submits a ``Delivery`` of
every pipeline due, with the key ``schedule:<minute, UTC>``: the intake acknowledges one
delivery per key and pipeline, so a fire submitted twice (a restart within the minute,
a catch-up of a fire that had already gone in) runs once. It never waits for the intake:
the commit of 200 fires due in the same minute is one group commit, not 200.

- **Overlap** (``overlap:``): ``skip`` (default) skips a fire while a run of the pipeline
  is queued or running (``Intake.active``), and logs it; ``queue`` submits it anyway, and
  the worker pool runs it once the pipeline's ``concurrency`` slot is free.
- **Missed fires** (``missed:``): the last fire of each pipeline is kept (``Marks``: the
  ``schedule_fires`` table of the history database, or PostgreSQL in distributed mode).
  At start, fires that fell between it and now are logged and skipped (``skip``,
  default) or run once (``run_once``, with the key of the latest missed minute). A
  pipeline seen for the first time has missed nothing.
- **A leader gate** (distributed mode, ``gate``): with several ``serve`` instances only
  the one whose gate says it leads fires; the others let their fires pass. An instance
  that becomes the leader catches up from the marks as a start does, except that a fire
  due within the last ``handover`` seconds (default 60) is fired as on time: it fell
  while the lease passed from one instance to the next, not while the service was down
  (if the old leader had fired it, its key keeps it from running twice).
- **Time**: an injectable ``Clock`` (tests move time by hand; cron resolves to the
  minute). The real clock wakes at least once a minute, so a step of the system clock
  (NTP, a resumed laptop) is noticed within a minute.

Wall times and DST follow ``hookline._crontime`` (Debian cron's rule).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._crontime import CronTimes
from ..triggers.schedule import Schedule
from ._queue import Delivery, Intake, QueueFull
from ._schedule_marks import Marks, SqliteMarks

__all__ = ["Clock", "Fire", "Gate", "Scheduler", "SystemClock", "fire_key"]

#: The real clock's longest sleep, so a step of the system clock is seen within it.
MAX_SLEEP = 60.0
#: A follower's longest sleep: how soon it sees that it leads now.
GATE_SLEEP = 1.0
#: Seconds: a fire due this recently when an instance becomes the leader is fired.
HANDOVER = 60.0


class Clock(Protocol):
    """Where the scheduler reads the time and waits for it."""

    def time(self) -> float:
        """Now, in epoch seconds (``time.time()``)."""
        ...

    def wait(self, until: float, wake: threading.Event) -> None:
        """Return at ``until`` (epoch seconds) or earlier, at once if ``wake`` is set."""
        ...


class SystemClock:
    """The real time."""

    def time(self) -> float:
        return time.time()

    def wait(self, until: float, wake: threading.Event) -> None:
        wake.wait(min(max(0.0, until - time.time()), MAX_SLEEP))


class Gate(Protocol):
    """Whether this instance may fire (``hookline.scale._leader.Leader``)."""

    def is_leader(self) -> bool: ...


class _Log(Protocol):
    def info(self, message: str, event: str = ..., **fields: Any) -> None: ...
    def warning(self, message: str, event: str = ..., **fields: Any) -> None: ...
    def error(self, message: str, event: str = ..., **fields: Any) -> None: ...


def fire_key(instant: float) -> str:
    """The dedup key of a fire: ``schedule:`` and its minute in UTC, ISO 8601."""
    return "schedule:" + time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(instant))


def _when(instant: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(instant))


@dataclass
class Fire:
    """One fire submitted: what tests and the benchmark look at."""

    pipeline: str
    at: float  # the instant it was due
    submitted: float  # clock time when it was handed to the intake
    future: concurrent.futures.Future[Any]


@dataclass
class _Entry:
    schedule: Schedule
    times: CronTimes
    next: float


class Scheduler:
    """Fires ``schedules`` into ``intake`` from a thread of its own (see the module
    docstring). ``start()`` catches up missed fires first; ``stop()`` ends the thread;
    ``reload()`` replaces the schedules (SIGHUP) and keeps what was fired."""

    def __init__(
        self,
        intake: Intake,
        schedules: Iterable[Schedule],
        *,
        db: Path | None = None,
        log: _Log,
        clock: Clock | None = None,
        marks: Marks | None = None,
        gate: Gate | None = None,
        handover: float = HANDOVER,
    ) -> None:
        self.intake = intake
        self.log = log
        self.clock: Clock = clock or SystemClock()
        if marks is None:
            if db is None:
                raise TypeError("Scheduler needs db (the history database) or marks")
            marks = SqliteMarks(db)
        self.marks: Marks = marks
        self.gate = gate
        self.handover = handover
        self._leading = False  # the gate was open at the last tick (and caught up)
        self.fired: list[Fire] = []  # the latest fires, for tests and the benchmark
        self.keep_fired = 10_000
        self._schedules = list(schedules)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self.marks.open()
        # Behind a gate, the catch-up waits until this instance leads (``_take_over``).
        self._install(self._schedules, catch_up=self.gate is None)
        self._thread = threading.Thread(target=self._loop, name="hookline-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.marks.close()

    def reload(self, schedules: Iterable[Schedule]) -> None:
        """New schedules (a reload of the pipelines): a pipeline whose schedule did not
        change keeps its next fire; a new or changed one fires from now on."""
        self._install(list(schedules), catch_up=False)
        self._wake.set()

    def wake(self) -> None:
        """Look again now (the gate opened or closed; tests)."""
        self._wake.set()

    def next_fires(self) -> dict[str, float]:
        with self._lock:
            return {name: entry.next for name, entry in self._entries.items()}

    # --- inside -------------------------------------------------------------------------

    def _install(self, schedules: Sequence[Schedule], *, catch_up: bool) -> None:
        now = self.clock.time()
        last = self.marks.last_fires() if catch_up else {}
        entries: dict[str, _Entry] = {}
        due_now: list[tuple[_Entry, float]] = []
        with self._lock:
            for schedule in schedules:
                old = self._entries.get(schedule.pipeline)
                if old is not None and old.schedule == schedule:
                    entries[schedule.pipeline] = old
                    continue
                times = CronTimes(schedule.cron, schedule.timezone)
                entry = _Entry(schedule, times, times.next_after(now))
                entries[schedule.pipeline] = entry
                if schedule.pipeline in last:
                    missed = times.previous_at_or_before(now, last[schedule.pipeline])
                    if missed is not None:
                        due_now.extend(self._missed(entry, *missed))
            self._entries = entries
        if due_now:
            self._fire(due_now, now)

    def _missed(self, entry: _Entry, latest: float, count: int) -> list[tuple[_Entry, float]]:
        name = entry.schedule.pipeline
        many = f"{count} fires" if count < 1000 else "1000 fires or more"
        if count == 1:
            many = "1 fire"
        if entry.schedule.missed == "run_once":
            self.log.info(
                f"pipeline '{name}': {many} missed while the service was down (the last at "
                f"{_when(latest)}); running it once now (missed: run_once)",
                event="schedule_missed",
                pipeline=name,
                missed=count,
            )
            return [(entry, latest)]
        self.log.info(
            f"pipeline '{name}': {many} missed while the service was down (the last at "
            f"{_when(latest)}); skipped (missed: skip)",
            event="schedule_missed",
            pipeline=name,
            missed=count,
        )
        self._record([(name, latest)])
        return []

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock.time()
            if self.gate is not None and not self._lead(now):
                continue
            with self._lock:
                due = [(e, e.next) for e in self._entries.values() if e.next <= now]
                soonest = min((e.next for e in self._entries.values()), default=now + MAX_SLEEP)
            if not due:
                self.clock.wait(soonest, self._wake)
                self._wake.clear()
                continue
            try:
                self._fire(due, now)
            except Exception as exc:  # the scheduler must outlive one bad tick
                self.log.error(f"the scheduler could not fire: {exc}", event="schedule_error")
            with self._lock:
                for entry, at in due:
                    entry.next = entry.times.next_after(max(at, now))

    def _lead(self, now: float) -> bool:
        """Behind a gate: True when this instance leads (caught up on becoming the
        leader); otherwise the fires due pass without firing, and it waits a little."""
        assert self.gate is not None
        if self.gate.is_leader():
            if self._leading:
                return True
            try:
                self._take_over(now)
            except Exception as exc:  # the marks cannot be read: try again shortly
                self.log.error(
                    f"the scheduler cannot take over as leader: {exc}", event="schedule_error"
                )
                self.clock.wait(now + GATE_SLEEP, self._wake)
                self._wake.clear()
                return False
            self._leading = True
            return True
        self._leading = False
        with self._lock:
            for entry in self._entries.values():
                if entry.next <= now:  # the leader fires it
                    entry.next = entry.times.next_after(now)
            soonest = min((e.next for e in self._entries.values()), default=now + MAX_SLEEP)
        self.clock.wait(min(soonest, now + GATE_SLEEP), self._wake)
        self._wake.clear()
        return False

    def _take_over(self, now: float) -> None:
        """This instance leads now: fires from now on, and what fell since each
        pipeline's last mark (see ``handover`` in the module docstring)."""
        last = self.marks.last_fires()
        due: list[tuple[_Entry, float]] = []
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            name = entry.schedule.pipeline
            pending = entry.next  # the first fire this instance has not let pass
            with self._lock:
                entry.next = entry.times.next_after(now)
            missed = entry.times.previous_at_or_before(now, last[name]) if name in last else None
            if missed is None:
                if pending <= now:  # due this very moment: on time, not missed
                    due.append((entry, pending))
                continue
            latest, count = missed
            if latest >= pending:  # due now in the ordinary course
                due.append((entry, latest))
            elif now - latest <= self.handover:
                self.log.info(
                    f"pipeline '{name}': the fire of {_when(latest)} fell while the leader "
                    "changed; firing it now",
                    event="schedule_handover",
                    pipeline=name,
                )
                due.append((entry, latest))
            else:
                due.extend(self._missed(entry, latest, count))
        if due:
            self._fire(due, now)

    def _fire(self, due: Sequence[tuple[_Entry, float]], now: float) -> None:
        handled: list[tuple[str, float]] = []
        for entry, at in due:
            schedule = entry.schedule
            handled.append((schedule.pipeline, at))
            if schedule.overlap == "skip" and self._active(schedule.pipeline):
                self.log.info(
                    f"pipeline '{schedule.pipeline}': the fire of {_when(at)} is skipped: a "
                    "run of it is still queued or running (overlap: skip)",
                    event="schedule_skipped",
                    pipeline=schedule.pipeline,
                )
                continue
            delivery = Delivery(
                pipeline=schedule.pipeline,
                trigger="schedule",
                input=schedule.input if schedule.input is not None else {},
                key=fire_key(at),
                received_at=self.clock.time(),
            )
            try:
                future = self.intake.submit(delivery)
            except Exception as exc:  # submit fails through its future; this is a bug
                self.log.error(
                    f"pipeline '{schedule.pipeline}': the fire of {_when(at)} was not "
                    f"queued: {exc}",
                    event="schedule_refused",
                )
                continue
            future.add_done_callback(self._reporter(schedule.pipeline))
            self.fired.append(Fire(schedule.pipeline, at, self.clock.time(), future))
        if len(self.fired) > self.keep_fired:
            del self.fired[: len(self.fired) - self.keep_fired]
        self._record(handled)

    def _active(self, name: str) -> bool:
        """A run of ``name`` queued or running; when the intake cannot say (a busy
        database), False: the fire goes in, and its key still keeps it from running twice."""
        try:
            return self.intake.active(name) > 0
        except Exception as exc:
            self.log.warning(
                f"pipeline '{name}': cannot tell whether a run is active ({exc}); firing",
                event="schedule_error",
            )
            return False

    def _reporter(self, name: str) -> Callable[[concurrent.futures.Future[Any]], None]:
        def report(future: concurrent.futures.Future[Any]) -> None:
            exc = future.exception()
            if exc is None:
                return
            why = "the queue is full" if isinstance(exc, QueueFull) else str(exc)
            self.log.error(
                f"pipeline '{name}': a scheduled run was not queued: {why}",
                event="schedule_refused",
                pipeline=name,
            )

        return report

    def _record(self, fires: Sequence[tuple[str, float]]) -> None:
        """Remember each pipeline's last fire, in one transaction for the whole tick."""
        if not fires:
            return
        try:
            self.marks.record(fires)
        except Exception as exc:  # a missed-fire check may then repeat: dedup holds
            self.log.warning(
                f"cannot record the last fire of a schedule: {exc}", event="schedule_record"
            )
