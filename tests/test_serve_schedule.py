"""The scheduler of ``hookline serve``: fires on time (a clock moved by hand; cron resolves
to the minute), across DST changes, with the overlap and missed-fire policies."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hookline.serve._queue import Accepted, Delivery, QueueFull, RunOutcome
from hookline.serve._scheduler import Scheduler, fire_key
from hookline.triggers.schedule import Schedule


def at(text: str) -> float:
    """Epoch seconds of an ISO time in UTC ('2026-03-01T10:02:30')."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class ManualClock:
    """Time that moves only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._cond = threading.Condition()

    def time(self) -> float:
        with self._cond:
            return self.now

    def wait(self, until: float, wake: threading.Event) -> None:
        with self._cond:
            while self.now < until and not wake.is_set():
                self._cond.wait(0.02)

    def set(self, value: float | str) -> None:
        with self._cond:
            self.now = at(value) if isinstance(value, str) else value
            self._cond.notify_all()


class RecordingIntake:
    """An Intake that keeps what it is given (the real one is tested below)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.busy: set[str] = set()
        self.refuse = False
        self.broken = False

    def submit(self, delivery: Delivery) -> concurrent.futures.Future[Accepted]:
        future: concurrent.futures.Future[Accepted] = concurrent.futures.Future()
        if self.refuse:
            future.set_exception(QueueFull(10, 30))
        else:
            self.deliveries.append(delivery)
            future.set_result(Accepted(f"run{len(self.deliveries)}", False))
        return future

    def depth(self) -> int:
        return 0

    def active(self, pipeline: str) -> int:
        if self.broken:
            raise sqlite3.OperationalError("database is locked")
        return 1 if pipeline in self.busy else 0

    def outcome(self, run_id: str, timeout: float) -> RunOutcome | None:
        return None


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []

    def _add(self, level: str, message: str, event: str, **fields: Any) -> None:
        self.lines.append((level, event, message))

    def info(self, message: str, event: str = "info", **fields: Any) -> None:
        self._add("info", message, event)

    def warning(self, message: str, event: str = "warning", **fields: Any) -> None:
        self._add("warning", message, event)

    def error(self, message: str, event: str = "error", **fields: Any) -> None:
        self._add("error", message, event)

    def events(self, name: str) -> list[str]:
        return [message for _, event, message in self.lines if event == name]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


@contextmanager
def running(
    schedules: list[Schedule], clock: ManualClock, db: Path, intake: Any = None
) -> Iterator[tuple[Scheduler, Any, Log]]:
    intake = intake if intake is not None else RecordingIntake()
    log = Log()
    scheduler = Scheduler(intake, schedules, db=db, log=log, clock=clock)
    scheduler.start()
    try:
        yield scheduler, intake, log
    finally:
        scheduler.stop()


def keys(intake: RecordingIntake) -> list[str | None]:
    return [d.key for d in intake.deliveries]


def step_to(scheduler: Scheduler, clock: ManualClock, name: str) -> float:
    """Move the clock to ``name``'s next fire and wait until the scheduler moved past it."""
    due = scheduler.next_fires()[name]
    clock.set(due)
    eventually(lambda: scheduler.next_fires()[name] > due, f"the fire of {due}")
    return due


def test_fires_on_the_minute_with_its_input_and_key(tmp_path):
    clock = ManualClock(at("2026-03-02T10:02:30"))
    nightly = Schedule("sync", "*/5 * * * *", input={"since": "yesterday"})
    with running([nightly], clock, tmp_path / "h.db") as (scheduler, intake, _):
        assert scheduler.next_fires() == {"sync": at("2026-03-02T10:05:00")}
        clock.set("2026-03-02T10:04:59")
        time.sleep(0.1)  # a fire here would be early; the one below shows the loop works
        assert intake.deliveries == []
        clock.set("2026-03-02T10:05:00")
        eventually(lambda: len(intake.deliveries) == 1, "the 10:05 fire")
    [delivery] = intake.deliveries
    assert delivery == Delivery(
        pipeline="sync",
        trigger="schedule",
        input={"since": "yesterday"},
        key="schedule:2026-03-02T10:05Z",
        received_at=at("2026-03-02T10:05:00"),
    )


def test_an_empty_input_is_an_empty_object(tmp_path):
    clock = ManualClock(at("2026-03-02T10:00:30"))
    with running([Schedule("p", "* * * * *")], clock, tmp_path / "h.db") as (s, intake, _):
        step_to(s, clock, "p")
    assert [d.input for d in intake.deliveries] == [{}]


def test_spring_forward_fires_once_at_the_end_of_the_gap(tmp_path):
    # Europe/Madrid skips 02:00-02:59 on 2026-03-29: 02:30 fires at 03:00 CEST (01:00Z).
    clock = ManualClock(at("2026-03-27T12:00:00"))
    job = Schedule("nightly", "30 2 * * *", timezone="Europe/Madrid")
    with running([job], clock, tmp_path / "h.db") as (scheduler, intake, _):
        for _ in range(4):
            step_to(scheduler, clock, "nightly")
        eventually(lambda: len(intake.deliveries) == 4, "four fires")
    assert keys(intake) == [
        "schedule:2026-03-28T01:30Z",  # 02:30 CET
        "schedule:2026-03-29T01:00Z",  # 03:00 CEST: the first instant after the gap
        "schedule:2026-03-30T00:30Z",  # 02:30 CEST
        "schedule:2026-03-31T00:30Z",
    ]


def test_fall_back_fires_a_fixed_time_once(tmp_path):
    # Europe/Madrid runs 02:00-02:59 twice on 2026-10-25; 02:30 fires the first time only.
    clock = ManualClock(at("2026-10-23T12:00:00"))
    job = Schedule("nightly", "30 2 * * *", timezone="Europe/Madrid")
    with running([job], clock, tmp_path / "h.db") as (scheduler, intake, _):
        for _ in range(3):
            step_to(scheduler, clock, "nightly")
        eventually(lambda: len(intake.deliveries) == 3, "three fires")
    assert keys(intake) == [
        "schedule:2026-10-24T00:30Z",  # 02:30 CEST
        "schedule:2026-10-25T00:30Z",  # 02:30 CEST, the first of the two
        "schedule:2026-10-26T01:30Z",  # 02:30 CET
    ]


def test_a_wildcard_schedule_follows_the_real_clock_through_both_changes(tmp_path):
    clock = ManualClock(at("2026-10-24T23:10:00"))  # 01:10 CEST on the 25th
    job = Schedule("often", "*/30 * * * *", timezone="Europe/Madrid")
    with running([job], clock, tmp_path / "h.db") as (scheduler, intake, _):
        for _ in range(6):
            step_to(scheduler, clock, "often")
        eventually(lambda: len(intake.deliveries) == 6, "six fires")
    # Every 30 real minutes: 01:30, 02:00, 02:30 CEST, then 02:00, 02:30, 03:00 CET.
    assert keys(intake) == [
        "schedule:2026-10-24T23:30Z",
        "schedule:2026-10-25T00:00Z",
        "schedule:2026-10-25T00:30Z",
        "schedule:2026-10-25T01:00Z",
        "schedule:2026-10-25T01:30Z",
        "schedule:2026-10-25T02:00Z",
    ]


def test_overlap_skip_skips_and_logs_a_fire_while_a_run_is_active(tmp_path):
    clock = ManualClock(at("2026-03-02T10:00:30"))
    intake = RecordingIntake()
    intake.busy.add("slow")
    jobs = [Schedule("slow", "* * * * *"), Schedule("piled", "* * * * *", overlap="queue")]
    with running(jobs, clock, tmp_path / "h.db", intake) as (scheduler, _, log):
        clock.set("2026-03-02T10:01:00")
        eventually(lambda: len(log.events("schedule_skipped")) == 1, "the skip")
        intake.busy.add("piled")  # queue: submitted even while a run is active
        step_to(scheduler, clock, "piled")
        eventually(lambda: len(intake.deliveries) == 2, "the queued fires")
    assert [(d.pipeline, d.key) for d in intake.deliveries] == [
        ("piled", "schedule:2026-03-02T10:01Z"),
        ("piled", "schedule:2026-03-02T10:02Z"),
    ]
    assert log.events("schedule_skipped")[0] == (
        "pipeline 'slow': the fire of 2026-03-02 10:01 UTC is skipped: a run of it is still "
        "queued or running (overlap: skip)"
    )


def test_a_refused_fire_is_logged(tmp_path):
    clock = ManualClock(at("2026-03-02T10:00:30"))
    intake = RecordingIntake()
    intake.refuse = True
    with running([Schedule("p", "* * * * *")], clock, tmp_path / "h.db", intake) as (s, _, log):
        step_to(s, clock, "p")
        eventually(lambda: log.events("schedule_refused") != [], "the refusal")
    assert log.events("schedule_refused") == [
        "pipeline 'p': a scheduled run was not queued: the queue is full"
    ]


def _last_fires(db: Path) -> dict[str, float]:
    with closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT pipeline, last_fire FROM schedule_fires").fetchall())


@pytest.mark.parametrize("policy", ["skip", "run_once"])
def test_missed_fires_after_a_restart(tmp_path, policy):
    db = tmp_path / "h.db"
    job = Schedule("sync", "*/5 * * * *", missed=policy)  # type: ignore[arg-type]
    clock = ManualClock(at("2026-03-02T10:02:30"))
    with running([job], clock, db) as (scheduler, intake, log):
        step_to(scheduler, clock, "sync")  # 10:05 fires; then the service stops
    assert keys(intake) == ["schedule:2026-03-02T10:05Z"]
    assert _last_fires(db) == {"sync": at("2026-03-02T10:05:00")}

    clock = ManualClock(at("2026-03-02T11:57:30"))  # down for 22 fires: 10:10 ... 11:55
    with running([job], clock, db) as (scheduler, intake, log):
        if policy == "run_once":
            eventually(lambda: len(intake.deliveries) == 1, "the catch-up run")
        assert scheduler.next_fires() == {"sync": at("2026-03-02T12:00:00")}
    [message] = log.events("schedule_missed")
    said = "pipeline 'sync': 22 fires missed while the service was down (the last at "
    if policy == "skip":
        assert message == said + "2026-03-02 11:55 UTC); skipped (missed: skip)"
        assert intake.deliveries == []
    else:
        assert message == said + "2026-03-02 11:55 UTC); running it once now (missed: run_once)"
        assert keys(intake) == ["schedule:2026-03-02T11:55Z"]
    assert _last_fires(db) == {"sync": at("2026-03-02T11:55:00")}


def test_a_pipeline_seen_for_the_first_time_missed_nothing(tmp_path):
    db = tmp_path / "h.db"
    clock = ManualClock(at("2026-03-02T10:02:30"))
    with running([Schedule("a", "* * * * *")], clock, db) as (scheduler, _, _):
        step_to(scheduler, clock, "a")
    clock = ManualClock(at("2026-03-02T12:00:30"))
    fresh = Schedule("b", "* * * * *", missed="run_once")
    with running([Schedule("a", "* * * * *"), fresh], clock, db) as (_, intake, log):
        eventually(lambda: len(log.events("schedule_missed")) == 1, "a's missed fires")
    assert intake.deliveries == []
    assert log.events("schedule_missed")[0].startswith("pipeline 'a': 117 fires missed")


def test_reload_keeps_unchanged_schedules_and_takes_new_ones(tmp_path):
    clock = ManualClock(at("2026-03-02T10:02:30"))
    with running([Schedule("a", "*/5 * * * *")], clock, tmp_path / "h.db") as (s, intake, _):
        s.reload([Schedule("a", "*/5 * * * *"), Schedule("b", "0 11 * * *")])
        assert s.next_fires() == {"a": at("2026-03-02T10:05:00"), "b": at("2026-03-02T11:00:00")}
        s.reload([Schedule("b", "0 12 * * *")])
        assert s.next_fires() == {"b": at("2026-03-02T12:00:00")}
        clock.set("2026-03-02T12:00:00")
        eventually(lambda: len(intake.deliveries) == 1, "b's fire")
    assert [d.pipeline for d in intake.deliveries] == ["b"]


def test_two_hundred_pipelines_due_in_the_same_minute_fire_in_one_tick(tmp_path):
    clock = ManualClock(at("2026-03-02T10:59:59"))
    jobs = [Schedule(f"p{i:03}", "0 * * * *") for i in range(200)]
    with running(jobs, clock, tmp_path / "h.db") as (scheduler, intake, _):
        clock.set("2026-03-02T11:00:00")
        eventually(lambda: len(intake.deliveries) == 200, "200 fires")
        assert {d.key for d in intake.deliveries} == {"schedule:2026-03-02T11:00Z"}
        # The last fires are written after the deliveries are submitted.
        eventually(lambda: len(_last_fires(tmp_path / "h.db")) == 200, "200 last fires")
        assert {f.at for f in scheduler.fired} == {at("2026-03-02T11:00:00")}


def test_the_real_intake_takes_a_fire_once_across_a_restart(tmp_path):
    """A restart within the minute submits the same fire again; the delivery key makes
    the durable intake keep one."""
    from hookline.serve._intake_sqlite import SqliteIntake

    db = tmp_path / "hookline.db"
    job = Schedule("sync", "* * * * *", missed="run_once", overlap="queue")
    for _ in range(2):
        intake = SqliteIntake(db)
        try:
            clock = ManualClock(at("2026-03-02T10:00:30"))
            with running([job], clock, db, intake) as (scheduler, _, _):
                step_to(scheduler, clock, "sync")
                eventually(lambda: scheduler.fired[-1].future.done(), "the commit")
                accepted = scheduler.fired[-1].future.result()
        finally:
            intake.close()
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("DELETE FROM schedule_fires")  # as if it crashed before recording
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT pipeline, trigger, key, status FROM deliveries").fetchall()
    assert rows == [("sync", "schedule", fire_key(at("2026-03-02T10:01:00")), "queued")]
    assert accepted.duplicate is True


def test_an_intake_that_cannot_say_what_is_active_still_gets_the_fire(tmp_path):
    clock = ManualClock(at("2026-03-02T10:00:30"))
    intake = RecordingIntake()
    intake.broken = True
    with running([Schedule("p", "* * * * *")], clock, tmp_path / "h.db", intake) as (s, _, log):
        step_to(s, clock, "p")
        eventually(lambda: len(intake.deliveries) == 1, "the fire")
    assert log.events("schedule_error") == [
        "pipeline 'p': cannot tell whether a run is active (database is locked); firing"
    ]


def test_serve_holds_its_history_against_a_blob_sweep_while_it_runs(tmp_path):
    from hookline._locks import history_alone

    db = tmp_path / "h.db"
    with running([], ManualClock(at("2026-03-02T10:00:30")), db), history_alone(db) as alone:
        assert alone is False
    with history_alone(db) as alone:
        assert alone is True
