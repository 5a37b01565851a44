"""The distributed intake against a real PostgreSQL and a real Redis broker: a delivery
is committed before its future resolves, a database down refuses it (never accepts it),
duplicates are refused across intakes, a full queue refuses with a Retry-After, and a
publish that failed is published by the leader's dispatcher once the broker is back."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from hookline.scale._celery import QUEUE, make_app, publish
from hookline.scale._config import ScaleConfig
from hookline.scale._dispatcher import Dispatcher
from hookline.scale._intake import CeleryIntake
from hookline.scale._leader import Leader
from hookline.scale._pg import make_pool, migrate
from hookline.scale._redis import connect as redis_connect
from hookline.serve._queue import Delivery, IntakeUnavailable, QueueFull


class Log:
    """Lines the dispatcher logs, kept for the assertions."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, event: str = "", **fields: Any) -> None:
        self.lines.append(message)

    def warning(self, message: str, event: str = "", **fields: Any) -> None:
        self.lines.append(message)


def messages(broker_url: str) -> list[str]:
    """The delivery ids of the messages waiting in the broker's hookline queue."""
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.lrange(QUEUE, 0, -1)
    finally:
        client.close()
    ids = []
    for item in raw:
        body = json.loads(base64.b64decode(json.loads(item)["body"]))
        ids.append(body[0][0])
    return ids


def row(url: str, run_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT pipeline, trigger, key, input::text, status, published_at IS NOT NULL"
            " FROM deliveries WHERE id = %s",
            (run_id,),
        ).fetchone()


def wait_until(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture
def intake_for(pg_url: str) -> Iterator[Any]:
    made: list[tuple[Any, CeleryIntake]] = []

    def make(broker: str, url: str = pg_url, **kwargs: Any) -> CeleryIntake:
        pool = make_pool(url, max_size=4)
        with pool.connection() as conn:
            migrate(conn)
        app = make_app(ScaleConfig(broker=broker), publisher=True)
        intake = CeleryIntake(pool, lambda run_id: publish(app, run_id), **kwargs)
        made.append((pool, intake))
        return intake

    try:
        yield make
    finally:
        for pool, intake in made:
            intake.close()
            pool.close()


def test_a_delivery_is_in_the_table_and_published_when_its_future_resolves(
    intake_for: Any, pg_url: str, redis_url: str
) -> None:
    intake = intake_for(redis_url)
    value = {"zeta": 1, "alpha": "\u0000 kept", "list": [3, 1]}
    accepted = intake.submit(Delivery("orders", "webhook", value, "d-1", time.time())).result(10)
    assert not accepted.duplicate
    # Read by another connection at the moment the future resolved: committed.
    found = row(pg_url, accepted.run_id)
    assert found is not None
    assert found[:3] == ("orders", "webhook", "d-1")
    # The input as sent: key order and the NUL escape kept (json, not jsonb).
    assert json.loads(found[3]) == value
    assert list(json.loads(found[3])) == ["zeta", "alpha", "list"]
    assert found[4] == "queued"
    assert wait_until(lambda: messages(redis_url)) == [accepted.run_id]


def test_the_database_down_refuses_every_delivery_and_accepts_none(
    make_pg: Any, redis_url: str, intake_for: Any
) -> None:
    server = make_pg()
    server.execute("CREATE DATABASE q")
    url = server.url_for("q")
    intake = intake_for(redis_url, url, commit_timeout=2.0)
    assert not intake.submit(Delivery("orders", "webhook", {"n": 0})).result(10).duplicate
    server.stop()
    started = time.monotonic()
    futures = [intake.submit(Delivery("orders", "webhook", {"n": n})) for n in range(1, 4)]
    for future in futures:
        with pytest.raises(IntakeUnavailable) as caught:
            future.result(30)
        assert str(caught.value).startswith("the delivery could not be stored: ")
    assert time.monotonic() - started < 2.0 + 10  # the commit timeout, not a hang
    server.start()
    back = wait_until(
        lambda: _accepted_or_none(intake, Delivery("orders", "webhook", {"n": 9})), 30
    )
    assert back is not None and not back.duplicate
    with psycopg.connect(url) as conn:
        inputs = [r[0] for r in conn.execute("SELECT input::text FROM deliveries").fetchall()]
    # Only what was acknowledged is there: the refused three are not.
    assert sorted(json.loads(i)["n"] for i in inputs) == [0, 9]


def _accepted_or_none(intake: CeleryIntake, delivery: Delivery) -> Any:
    try:
        return intake.submit(delivery).result(30)
    except IntakeUnavailable:
        return None


def test_one_delivery_id_sent_to_two_intakes_at_once_runs_once(
    intake_for: Any, pg_url: str, redis_url: str
) -> None:
    first, second = intake_for(redis_url), intake_for(redis_url)
    barrier = threading.Barrier(8, timeout=60)  # a stuck peer is a failure, not a hang

    def send(index: int) -> Any:
        barrier.wait()
        intake = first if index % 2 else second
        return intake.submit(Delivery("orders", "webhook", {"i": index}, "same-id")).result(10)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert len({a.run_id for a in answers}) == 1
    assert sum(not a.duplicate for a in answers) == 1
    with psycopg.connect(pg_url) as conn:
        count = conn.execute("SELECT count(*) FROM deliveries").fetchone()
    assert count == (1,)
    time.sleep(0.5)  # any second publish would be there by now
    assert wait_until(lambda: messages(redis_url)) == [answers[0].run_id]


def test_a_full_queue_refuses_with_retry_after_and_still_answers_duplicates(
    intake_for: Any, redis_url: str
) -> None:
    intake = intake_for(redis_url, max_queue=2)
    first = intake.submit(Delivery("orders", "webhook", {}, "k1")).result(10)
    intake.submit(Delivery("orders", "webhook", {}, "k2")).result(10)
    with pytest.raises(QueueFull) as caught:
        intake.submit(Delivery("orders", "webhook", {}, "k3")).result(10)
    assert caught.value.retry_after == 30
    assert str(caught.value) == "the queue is full (2 deliveries wait); try again in 30s"
    again = intake.submit(Delivery("orders", "webhook", {}, "k1")).result(10)
    assert again == (first.run_id, True)
    assert intake.depth() == 2


def test_a_failed_publish_is_published_by_the_leader_once_the_broker_is_back(
    make_redis: Any, redis_url: str, intake_for: Any, pg_url: str
) -> None:
    broker = make_redis()
    intake = intake_for(broker.url_for(1))
    broker.stop()
    accepted = intake.submit(Delivery("orders", "webhook", {"n": 1}, "late")).result(10)
    # Acknowledged although the broker is down: the row is what counts.
    assert not accepted.duplicate
    assert wait_until(lambda: (row(pg_url, accepted.run_id) or ())[5:] == (False,), 30)
    coordination = redis_connect(redis_url)
    leader, follower = (Leader(coordination, "serve", ttl=10.0) for _ in range(2))
    leader.start()
    assert leader.wait_leader(10)
    follower.start()
    app = make_app(ScaleConfig(broker=broker.url_for(1)), publisher=True)
    sent: list[str] = []
    log = Log()
    dispatchers = [
        Dispatcher(
            intake.deliveries,
            lambda run_id: publish(app, run_id),
            gate,
            log=log,
            interval=0.1,
            published=sent.append,
        )
        for gate in (leader, follower)
    ]
    try:
        for dispatcher in dispatchers:
            dispatcher.start()
        assert wait_until(lambda: any("cannot publish to the broker" in x for x in log.lines))
        broker.start()
        assert wait_until(lambda: messages(broker.url_for(1)) == [accepted.run_id], 30)
        time.sleep(0.5)
        # The follower published nothing; the leader once ("unpublished").
        assert messages(broker.url_for(1)) == [accepted.run_id]
        assert sent == ["unpublished"]
        assert "the broker answers again: publishing" in log.lines
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        follower.stop()
        leader.stop()
        coordination.close()
