"""The leader's fencing terms when Redis loses its data (a restart without persistence,
a failover, FLUSHALL): terms come from PostgreSQL, so a new leader's term is still above
every term the schedule marks and poll baselines hold, and its polls and marks commit.
A write refused as stale makes the instance step down and bid again."""

from __future__ import annotations

import os
import time
from typing import Any

import redis
import test_schedule_leader as leaders

from hookline import load_pipeline
from hookline.scale._leader import Leader
from hookline.scale._pg import make_pool, migrate
from hookline.scale._pg_schedule import leader_poller, leader_scheduler, next_term
from hookline.scale._redis import connect
from hookline.triggers.schedule import Schedule
from poll_support import TOKEN, ContactsServer
from test_poll_run import PIPELINE as POLL_PIPELINE
from test_serve_schedule import Log, ManualClock, at

NAME, TTL, Instance, eventually = leaders.NAME, leaders.TTL, leaders.Instance, leaders.eventually
cluster = leaders.cluster  # the fixture: serve instances on one Redis and one PostgreSQL


def stored(pool: Any, sql: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(sql).fetchall()


def poller_of(cluster: Any, instance: Instance, pipeline: Any, clock: ManualClock) -> None:
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


def poll(instance: Instance, clock: ManualClock) -> Any:
    count = len(instance.poller.done)
    clock.set(instance.poller.next_polls()[NAME])
    eventually(lambda: len(instance.poller.done) > count, "a poll")
    return instance.poller.done[-1]


def test_a_new_leader_after_redis_lost_its_data_commits_its_polls(
    cluster, tmp_path, monkeypatch, redis_url
):
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    api = ContactsServer(page_size=10).start()
    try:
        api.put("a", "Ada", "2026-01-01")
        path = tmp_path / f"{NAME}.yaml"
        path.write_text(POLL_PIPELINE.format(url=api.url, max_pages=10, extra=""))
        pipeline = load_pipeline(str(path))
        clock = ManualClock(at("2026-03-01T10:02:30"))
        terms = []
        for _ in range(3):  # three leaders in turn, each one poll
            instance = cluster()
            poller_of(cluster, instance, pipeline, clock)
            eventually(instance.leader.is_leader, "a leader", timeout=TTL + 10)
            terms.append(instance.leader.term)
            assert poll(instance, clock).ok
            instance.stop()
        assert terms == sorted(terms) and len(set(terms)) == 3
        redis.Redis.from_url(redis_url).flushdb()  # Redis lost its data

        instance = cluster()
        poller_of(cluster, instance, pipeline, clock)
        eventually(instance.leader.is_leader, "a leader", timeout=TTL + 10)
        assert (instance.leader.term or 0) > terms[-1]
        api.put("b", "Bob", "2026-01-02")
        done = poll(instance, clock)
        assert done.ok, done.error
        assert done.fired == [f"poll:{NAME}:created:b:2026-01-02"]
        again = poll(instance, clock)
        assert again.ok and again.fired == []  # the baseline moved: nothing listed twice
        assert instance.log.events("poll_failed") == []
        assert stored(cluster.pool, "SELECT version, term FROM poll_polls") == [
            (5, instance.leader.term)
        ]
    finally:
        api.stop()


def test_a_leader_that_outlives_redis_losing_its_data_leads_again_with_a_greater_term(
    cluster, redis_url
):
    clock = ManualClock(at("2026-03-01T10:00:30"))
    instance = cluster()
    instance.scheduler = leader_scheduler(
        instance.intake,
        [Schedule("tick", "* * * * *", overlap="queue")],
        pool=cluster.pool,
        leader=instance.leader,
        log=instance.log,
        clock=clock,
    )
    instance.scheduler.start()
    instance.leader.start()
    eventually(instance.leader.is_leader, "a leader", timeout=TTL + 10)
    eventually(lambda: instance.scheduler._leading, "the catch-up")
    first = instance.leader.term
    clock.set("2026-03-01T10:01:00")
    eventually(
        lambda: (
            stored(cluster.pool, "SELECT last_fire, term FROM schedule_fires")
            == [(at("2026-03-01T10:01:00"), first)]
        ),
        "the first mark",
    )
    redis.Redis.from_url(redis_url).flushdb()
    # Its next renewal finds the lease gone: it steps down, bids, and wins a new term.
    eventually(lambda: (instance.leader.term or 0) > (first or 0), "a new term", TTL + 10)
    assert instance.log.events("leader_lost") == [
        f"this instance no longer leads (serve, term {first}): the leader lease is gone "
        "from Redis (Redis lost its data: a restart without persistence, or a failover) "
        "or it lapsed before this renewal; bidding again"
    ]
    eventually(lambda: instance.scheduler._leading, "the catch-up")
    second = instance.leader.term
    clock.set("2026-03-01T10:02:00")
    eventually(
        lambda: (
            stored(cluster.pool, "SELECT last_fire, term FROM schedule_fires")
            == [(at("2026-03-01T10:02:00"), second)]
        ),
        "the mark of the new term",
    )
    assert instance.log.events("schedule_record") == []


def test_a_write_refused_as_stale_makes_the_leader_step_down_and_bid_again(
    cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    api = ContactsServer(page_size=10).start()
    try:
        api.put("a", "Ada", "2026-01-01")
        path = tmp_path / f"{NAME}.yaml"
        path.write_text(POLL_PIPELINE.format(url=api.url, max_pages=10, extra=""))
        pipeline = load_pipeline(str(path))
        clock = ManualClock(at("2026-03-01T10:02:30"))
        instance = cluster()
        poller_of(cluster, instance, pipeline, clock)
        eventually(instance.leader.is_leader, "a leader", timeout=TTL + 10)
        mine = instance.leader.term
        # A newer leader's term wrote the baseline meanwhile (two leaders for an instant).
        newer = next_term(cluster.pool)
        with cluster.pool.connection() as conn:
            conn.execute(
                "INSERT INTO poll_polls (pipeline, records, version, term) VALUES (%s, 0, 1, %s)",
                (NAME, newer),
            )
        refused = poll(instance, clock)
        why = (
            f"a newer leader (term {newer}) committed this poll's baseline; this "
            f"instance's (term {mine}) is dropped"
        )
        assert not refused.ok and refused.error == why
        eventually(lambda: (instance.leader.term or 0) > newer, "a new term", TTL + 10)
        assert instance.log.events("leader_lost") == [
            f"this instance no longer leads (serve, term {mine}): {why}; bidding again"
        ]
        assert poll(instance, clock).ok
        assert stored(cluster.pool, "SELECT version, term FROM poll_polls") == [
            (2, instance.leader.term)
        ]
    finally:
        api.stop()


def test_an_instance_that_cannot_take_a_term_leaves_the_lease_to_one_that_can(
    cluster, make_pg, redis_url
):
    server = make_pg()
    cut = make_pool(server.url, max_size=2)
    with cut.connection() as conn:
        migrate(conn)
    server.stop()  # this instance's database is gone; the others' is not
    log = Log()
    cut_off = Leader(connect(redis_url), "serve", ttl=TTL, log=log, terms=lambda: next_term(cut))
    cut_off.start()
    try:
        eventually(lambda: log.events("leader_term") != [], "the warning", timeout=15)
        assert not cut_off.is_leader()
        able = cluster()
        able.leader.start()
        eventually(able.leader.is_leader, "a leader that has a term", timeout=15)
        time.sleep(3 * TTL)  # more bids of the cut-off instance: still not said again
        assert not cut_off.is_leader()
        eventually(able.leader.is_leader, "the able instance still leads", timeout=TTL + 10)
        [warning] = log.events("leader_term")
        assert warning.startswith(
            "this instance cannot lead (serve): cannot take a leader term from the database: "
        )
        assert warning.endswith(f"; it bids again in {TTL:g} s (this is said once while it lasts)")
        assert log.events("leader_elected") == []
    finally:
        cut_off.stop()
        cut_off.client.close()
        cut.close()
