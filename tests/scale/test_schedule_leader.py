"""Schedules and polls of several serve instances in distributed mode fire once: only
the leader fires, its marks in PostgreSQL, the deliveries' keys the second guard.

Each "instance" is what a distributed serve builds (``leader_scheduler``,
``leader_poller``: a Leader on Redis, a CeleryIntake on PostgreSQL), with the
scheduler's clock moved by hand as tests/test_serve_schedule.py does."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hookline import load_pipeline
from hookline.scale._intake import CeleryIntake
from hookline.scale._leader import Leader
from hookline.scale._pg import make_pool, migrate
from hookline.scale._pg_schedule import leader_poller, leader_scheduler, next_term
from hookline.scale._redis import connect
from hookline.serve._scheduler import Scheduler, fire_key
from hookline.triggers.schedule import Schedule
from poll_support import TOKEN, ContactsServer
from test_poll_run import PIPELINE as POLL_PIPELINE
from test_serve_schedule import Log, ManualClock, at

# Renewed every TTL/3 and believed for 0.9 TTL: a renewal late by up to ~1.7 s on a
# loaded two-core machine keeps the lease, so an instance that must stay leader does.
TTL = 3.0


def eventually(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


@dataclass
class Instance:
    leader: Leader
    intake: CeleryIntake
    log: Log
    scheduler: Scheduler | None = None
    poller: Any = None

    def stop(self, *, release: bool = True) -> None:
        if self.poller is not None:
            self.poller.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if release:
            self.leader.stop()
        else:  # dies: stops renewing and never gives the lease back
            self.leader._stop.set()
            if self.leader._thread is not None:
                self.leader._thread.join(5)
        self.intake.close()
        self.leader.client.close()


@pytest.fixture
def cluster(pg_url, redis_url) -> Iterator[Callable[[], Instance]]:
    """``new()``: one more serve instance (leader bid started) on the shared servers."""
    pool = make_pool(pg_url, max_size=20)
    with pool.connection() as conn:
        migrate(conn)
    made: list[Instance] = []

    def new() -> Instance:
        log = Log()
        # Terms from PostgreSQL, as serve takes them (scale/_serve.py).
        leader = Leader(
            connect(redis_url), "serve", ttl=TTL, log=log, terms=lambda: next_term(pool)
        )
        intake = CeleryIntake(pool, lambda run_id: None)  # the broker is not the point here
        made.append(Instance(leader, intake, log))
        return made[-1]

    new.pool = pool  # type: ignore[attr-defined]
    yield new
    for instance in made:
        with contextlib.suppress(Exception):
            instance.stop()
    pool.close()


def keys(pool: Any, pipeline: str) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT key FROM deliveries WHERE pipeline = %s ORDER BY key", (pipeline,)
        ).fetchall()
    return [key for (key,) in rows]


def leading(instances: list[Instance]) -> list[Instance]:
    return [i for i in instances if i.leader.is_leader()]


def test_two_instances_fire_a_schedule_once_a_minute_and_a_new_leader_goes_on(cluster):
    clock = ManualClock(at("2026-03-01T10:00:30"))
    every_minute = [Schedule("tick", "* * * * *", overlap="queue")]
    instances = [cluster() for _ in range(2)]
    for instance in instances:
        instance.scheduler = leader_scheduler(
            instance.intake,
            every_minute,
            pool=cluster.pool,
            leader=instance.leader,
            log=instance.log,
            clock=clock,
        )
        instance.scheduler.start()
        instance.leader.start()
    eventually(lambda: len(leading(instances)) == 1, "a leader")
    first = leading(instances)[0]
    other = next(i for i in instances if i is not first)
    for minute in ("10:01", "10:02", "10:03"):
        clock.set(f"2026-03-01T{minute}:00")
        key = fire_key(at(f"2026-03-01T{minute}:00"))
        eventually(lambda key=key: key in keys(cluster.pool, "tick"), f"the fire of {minute}")
    time.sleep(1.0)  # a second fire, if any, would be in by now (the clock wakes both)
    assert keys(cluster.pool, "tick") == [
        "schedule:2026-03-01T10:01Z",
        "schedule:2026-03-01T10:02Z",
        "schedule:2026-03-01T10:03Z",
    ]
    assert len(first.scheduler.fired) == 3
    assert other.scheduler.fired == []  # the follower never even submitted one

    # The leader dies (no lease given back) just before 10:04; the minute passes while
    # its lease runs out; the other takes over and fires the fire that fell meanwhile.
    first.stop(release=False)
    clock.set("2026-03-01T10:04:00")
    eventually(other.leader.is_leader, "the takeover", timeout=TTL + 10)
    key = "schedule:2026-03-01T10:04Z"
    eventually(lambda: key in keys(cluster.pool, "tick"), "the handed-over fire")
    assert any("fell while the leader changed" in m for m in other.log.events("schedule_handover"))
    clock.set("2026-03-01T10:05:00")
    eventually(lambda: "schedule:2026-03-01T10:05Z" in keys(cluster.pool, "tick"), "10:05")
    time.sleep(1.0)  # a second fire of 10:05, if any, would be in by now
    assert keys(cluster.pool, "tick")[-2:] == [key, "schedule:2026-03-01T10:05Z"]
    assert len(keys(cluster.pool, "tick")) == 5


def test_two_leaders_for_an_instant_still_fire_once(cluster):
    """A leader paused past its lease fires after the next one did: the key's UNIQUE
    in PostgreSQL refuses the second delivery."""
    clock = ManualClock(at("2026-03-01T10:00:30"))
    a, b = cluster(), cluster()
    for instance in (a, b):
        instance.scheduler = leader_scheduler(
            instance.intake,
            [Schedule("tick", "* * * * *", overlap="queue")],
            pool=cluster.pool,
            leader=instance.leader,
            log=instance.log,
            clock=clock,
        )
        instance.scheduler.start()
    # both gates forced open, as two instances that each believe they lead
    for instance in (a, b):
        instance.leader.is_leader = lambda: True  # type: ignore[method-assign]
        instance.leader._term = 1
        instance.leader._valid_until = float("inf")
        instance.scheduler.wake()
    clock.set("2026-03-01T10:01:00")
    eventually(lambda: len(a.scheduler.fired) == 1 and len(b.scheduler.fired) == 1, "fires")
    for instance in (a, b):
        instance.scheduler.fired[0].future.result(timeout=10)
    assert keys(cluster.pool, "tick") == ["schedule:2026-03-01T10:01Z"]
    accepted = [i.scheduler.fired[0].future.result() for i in (a, b)]
    assert sorted(x.duplicate for x in accepted) == [False, True]
    assert accepted[0].run_id == accepted[1].run_id


NAME = "contacts-change-sync"


def test_two_instances_poll_once_and_a_new_leader_compares_with_the_last_baseline(
    cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    api = ContactsServer(page_size=10).start()
    try:
        api.put("a", "Ada", "2026-01-01")
        api.put("b", "Bob", "2026-01-01")
        path = tmp_path / f"{NAME}.yaml"
        path.write_text(POLL_PIPELINE.format(url=api.url, max_pages=10, extra=""))
        pipeline = load_pipeline(str(path))
        clock = ManualClock(at("2026-03-01T10:02:30"))
        instances = [cluster() for _ in range(2)]
        for instance in instances:
            instance.poller = leader_poller(
                instance.intake,
                [pipeline],
                pool=cluster.pool,
                leader=instance.leader,
                log=instance.log,
                env=dict(os.environ),
                clock=clock,
            )
            instance.poller.start()
            instance.leader.start()
        eventually(lambda: len(leading(instances)) == 1, "a leader")
        first = leading(instances)[0]
        other = next(i for i in instances if i is not first)

        def poll(expect: Instance) -> None:
            count = len(expect.poller.done)
            clock.set(expect.poller.next_polls()[NAME])
            eventually(lambda: len(expect.poller.done) > count, "a poll")

        poll(first)  # first poll: the baseline
        assert api.listings == 1
        api.put("b", "Bobby", "2026-01-02")
        poll(first)
        assert first.poller.done[-1].fired == [f"poll:{NAME}:updated:b:2026-01-02"]
        time.sleep(1.0)  # a poll of the follower, if any, would be done by now
        assert other.poller.done == []  # the follower never listed
        assert api.listings == 2

        first.stop()  # hands the lease over
        eventually(other.leader.is_leader, "the takeover", timeout=TTL + 10)
        api.put("c", "Cy", "2026-01-02")
        poll(other)
        # it compared with the baseline the first leader committed: only the new record
        assert other.poller.done[-1].fired == [f"poll:{NAME}:created:c:2026-01-02"]
        assert api.listings == 3
        assert sorted(keys(cluster.pool, NAME)) == [
            f"poll:{NAME}:created:c:2026-01-02",
            f"poll:{NAME}:updated:b:2026-01-02",
        ]
    finally:
        api.stop()


def test_a_follower_that_becomes_leader_mid_poll_cycle_is_woken(cluster):
    """The leader's listener wakes the scheduler: a takeover is not left waiting for
    the next tick of a clock that does not move."""
    clock = ManualClock(at("2026-03-01T10:00:59"))
    instance = cluster()
    woke = threading.Event()
    instance.leader.watch(lambda leading: woke.set() if leading else None)
    instance.scheduler = leader_scheduler(
        instance.intake,
        [Schedule("tick", "* * * * *")],
        pool=cluster.pool,
        leader=instance.leader,
        log=instance.log,
        clock=clock,
    )
    instance.scheduler.start()
    instance.leader.start()
    assert woke.wait(5)
    eventually(lambda: instance.scheduler._leading, "the catch-up")
