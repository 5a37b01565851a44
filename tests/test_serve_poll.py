"""``hookline serve`` polls poll triggers: the poller with a clock moved by hand, a real
intake and worker pool, and a real local REST API whose contacts change between polls."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hookline import load_pipeline
from hookline._log import RunLog
from hookline.serve._intake_sqlite import SqliteIntake
from hookline.serve._poller import Poller
from hookline.serve._workers import WorkerPool
from hookline.triggers.poll_store import PollStore
from poll_support import TOKEN, ContactsServer
from test_poll_run import PIPELINE
from test_serve_schedule import Log, ManualClock, at

Write = Callable[[str, str], str]
NAME = "contacts-change-sync"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContactsServer]:
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    server = ContactsServer(page_size=2).start()
    server.put("a", "Ada", "2026-01-01")
    server.put("b", "Bob", "2026-01-01")
    server.put("c", "Cy", "2026-01-01")
    yield server
    server.stop()


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


@contextmanager
def serving(
    path: str, home: Path, clock: ManualClock, *, workers: bool = True
) -> Iterator[tuple[Poller, Log, SqliteIntake]]:
    import os

    pipeline = load_pipeline(path)
    db = home / "hookline.db"
    intake = SqliteIntake(db)
    pool = WorkerPool(
        intake,
        home=home,
        lookup=lambda name: pipeline if name == pipeline.name else None,
        make_log=lambda: RunLog(io.StringIO()),
        env=dict(os.environ),
    )
    if workers:
        pool.start()
    log = Log()
    poller = Poller(intake, [pipeline], db=db, log=log, env=dict(os.environ), clock=clock)
    poller.start()
    try:
        yield poller, log, intake
    finally:
        poller.stop()
        pool.stop(grace=5)  # never started: this only closes its database connections
        intake.close()


def poll(poller: Poller, clock: ManualClock) -> None:
    """Move the clock to the next poll and wait until that poll ended."""
    count = len(poller.done)
    clock.set(poller.next_polls()[NAME])
    eventually(lambda: len(poller.done) > count, "a poll")


def test_serve_polls_on_the_cron_and_runs_each_change_once(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    path = write(f"{NAME}.yaml", PIPELINE.format(url=api.url, max_pages=10, extra=""))
    clock = ManualClock(at("2026-03-01T10:02:30"))
    with serving(path, tmp_path, clock) as (poller, log, _intake):
        assert poller.next_polls()[NAME] == at("2026-03-01T10:05:00")
        poll(poller, clock)  # the first poll: the baseline only
        assert (poller.done[-1].ok, poller.done[-1].fired) == (True, []), log.lines
        assert api.listings >= 1 and api.calls == []
        assert f"pipeline '{NAME}': poll: 3 records, first poll: baseline set, 0 runs queued" in (
            log.events("poll_done")
        )

        api.put("b", "Bobby", "2026-01-02")
        api.remove("c")
        api.put("d", "Dee", "2026-01-02")
        api.people["c"] = {"name": "Cy"}
        poll(poller, clock)
        assert poller.done[-1].fired == [
            f"poll:{NAME}:created:d:2026-01-02",
            f"poll:{NAME}:updated:b:2026-01-02",
            f"poll:{NAME}:deleted:c:2026-01-01",
        ]
        eventually(lambda: len(api.calls) == 3, "three runs")
        assert sorted(api.calls) == [
            ("DELETE", "/target/people/c"),
            ("PUT", "/target/people/b"),
            ("PUT", "/target/people/d"),
        ]
        assert api.people == {
            "d": {"name": "Dee", "was": None},
            "b": {"name": "Bobby", "was": "2026-01-01"},
        }
        poll(poller, clock)  # nothing changed: nothing fires
        assert poller.done[-1].fired == []
        time.sleep(0.3)
        assert len(api.calls) == 3
    assert not any(TOKEN in line for _, _, line in log.lines)


def test_a_failed_listing_fires_nothing_and_the_next_poll_does(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    path = write(f"{NAME}.yaml", PIPELINE.format(url=api.url, max_pages=10, extra=""))
    clock = ManualClock(at("2026-03-01T10:02:30"))
    with serving(path, tmp_path, clock) as (poller, log, _intake):
        poll(poller, clock)
        api.put("d", "Dee", "2026-01-02")
        api.fail = 500
        poll(poller, clock)
        assert (poller.done[-1].ok, poller.done[-1].fired) == (False, [])
        (failed,) = log.events("poll_failed")
        assert failed.startswith(
            f"pipeline '{NAME}': the poll fired nothing new and kept its baseline: the listing "
            "failed:"
        )
        assert TOKEN not in failed
        api.fail = None
        poll(poller, clock)
        assert poller.done[-1].fired == [f"poll:{NAME}:created:d:2026-01-02"]
        eventually(lambda: api.calls == [("PUT", "/target/people/d")], "the run")


def test_a_change_queued_before_a_crash_runs_once_after_the_restart(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    path = write(f"{NAME}.yaml", PIPELINE.format(url=api.url, max_pages=10, extra=""))
    clock = ManualClock(at("2026-03-01T10:02:30"))
    key = f"poll:{NAME}:created:d:2026-01-02"
    with serving(path, tmp_path, clock, workers=False) as (poller, _log, _intake):
        poll(poller, clock)
        store = PollStore(tmp_path / "hookline.db")
        baseline = store.load(NAME)
        api.put("d", "Dee", "2026-01-02")
        poll(poller, clock)  # queued, not run: serve stops before a worker takes it
        assert poller.done[-1].fired == [key]
    # The crash: put the baseline back as it was before that poll saved it.
    store.commit(NAME, store.load(NAME), baseline or {})
    assert "d" not in (store.load(NAME) or {})
    store.close()

    with serving(path, tmp_path, clock) as (poller, _log, _intake):
        poll(poller, clock)  # the same change again, the same key: the intake refuses it
        assert poller.done[-1].fired == [key]
        eventually(lambda: len(api.calls) >= 1, "the queued run")
        time.sleep(0.5)
        assert api.calls == [("PUT", "/target/people/d")]
        poll(poller, clock)  # the baseline is saved now
        assert poller.done[-1].fired == []


def test_a_poll_still_running_when_the_next_is_due_is_skipped(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    path = write(f"{NAME}.yaml", PIPELINE.format(url=api.url, max_pages=10, extra=""))
    clock = ManualClock(at("2026-03-01T10:02:30"))
    gate = threading.Event()
    with serving(path, tmp_path, clock) as (poller, log, _intake):
        poll(poller, clock)
        api.put("d", "Dee", "2026-01-02")
        hold = threading.Thread(target=gate.wait)
        hold.start()
        poller._running[NAME] = hold  # a poll that has not ended yet
        clock.set(poller.next_polls()[NAME])
        eventually(lambda: bool(log.events("poll_skipped")), "the skip")
        assert log.events("poll_skipped") == [
            f"pipeline '{NAME}': a poll is skipped: the previous poll is still running"
        ]
        gate.set()
        hold.join()
        poll(poller, clock)
        assert poller.done[-1].fired == [f"poll:{NAME}:created:d:2026-01-02"]


def test_a_real_serve_runs_a_change_a_poll_queued_before_it_stopped(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    from hookline.serve._queue import Delivery
    from serve_support import Serve

    directory = tmp_path / "p"
    directory.mkdir()
    (directory / f"{NAME}.yaml").write_text(
        PIPELINE.format(url=api.url, max_pages=10, extra=""), encoding="utf-8"
    )
    home = tmp_path / "home"
    home.mkdir()
    change = {
        "change": "created",
        "id": "d",
        "record": {"id": "d", "name": "Dee", "updated_at": "2026-01-02"},
        "previous_marker": None,
    }
    intake = SqliteIntake(home / "hookline.db")
    key = f"poll:{NAME}:created:d:2026-01-02"
    intake.submit(Delivery(NAME, "poll", change, key)).result(10)
    intake.close()
    with Serve(directory, home, env={"SOURCE_TOKEN": TOKEN}) as serve:
        assert "serving 1 pipeline" in serve.stderr, serve.stderr
        eventually(lambda: api.calls == [("PUT", "/target/people/d")], "the queued change")
        assert api.people == {"d": {"name": "Dee", "was": None}}
        assert "poll_failed" not in serve.stderr and "Traceback" not in serve.stderr
    assert TOKEN not in serve.stderr


def test_the_start_line_counts_the_poll_pipelines(tmp_path: Path) -> None:
    # The line serve and worker print at start names the poll pipelines too.
    from hookline.serve._catalog import load_catalog

    text = PIPELINE.format(url="http://127.0.0.1:9", max_pages=10, extra="")
    (tmp_path / "sync.yaml").write_text(text)
    catalog = load_catalog(str(tmp_path), env={"SOURCE_TOKEN": TOKEN})
    assert catalog.describe() == "1 pipeline: 0 webhooks, 0 schedules, 1 poll"
