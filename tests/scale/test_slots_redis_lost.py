"""Run slots when Redis loses its data (a restart without persistence, a failover to a
replica that had not caught up, FLUSHALL): the next renewal takes the slot again when it
is free, so the pipeline's cap holds again; a slot another run took meanwhile is the
only one lost, and the warning names what happened, not an outage that did not."""

from __future__ import annotations

import pytest

from hookline.scale._redis import connect as _connect
from hookline.scale._slots import Slots

WIPED = (
    "Redis lost this run's slot lease (it restarted without its data, or failed over to "
    "a replica that had not caught up)"
)


@pytest.fixture
def connect():
    made = []

    def make(url):
        made.append(_connect(url))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def slots():
    """``slots(client, ttl=..., ...)``: a Slots, each closed when the test ends (also when
    it fails), so that no renewing thread outlives its test."""
    made: list[Slots] = []

    def make(client, **kwargs):
        made.append(Slots(client, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_redis_restarted_empty_gives_the_held_slot_back_to_its_run(make_redis, connect, slots):
    server = make_redis()
    warnings: list[str] = []
    # A long ttl: the renewing thread stays out of the way; the test renews by hand.
    mine = slots(connect(server.url), ttl=60, warn=warnings.append)
    lease = mine.acquire("orders", 1)
    assert lease is not None
    server.restart()  # no persistence: it comes back empty
    lease.renew()
    assert lease.held and not lease.lost and lease.slot == 0
    assert warnings == [
        f"pipeline 'orders': {WIPED}; the slot was free and this run holds it again"
    ]
    other = slots(connect(server.url), ttl=60)
    assert other.acquire("orders", 1) is None  # concurrency 1 holds again
    lease.release()
    again = other.acquire("orders", 1)
    assert again is not None  # given back as usual
    again.release()


def test_a_slot_another_run_took_after_the_loss_is_lost_with_the_cause(redis_url, connect, slots):
    warnings: list[str] = []
    mine = slots(connect(redis_url), ttl=60, warn=warnings.append)
    first = mine.acquire("orders", 1)
    assert first is not None
    connect(redis_url).flushdb()
    second = slots(connect(redis_url), ttl=60).acquire("orders", 1)
    assert second is not None  # nothing in Redis could tell it the slot was held
    first.renew()
    assert first.lost and not first.held
    assert second.held
    assert warnings == [
        f"pipeline 'orders': {WIPED}, and another run took the slot meanwhile: the two "
        "runs go on at once"
    ]
    assert not any("out of reach" in w for w in warnings)
    first.release()  # a no-op: the slot is the second's
    assert slots(connect(redis_url), ttl=60).acquire("orders", 1) is None
    second.release()


def test_a_lost_slot_moves_to_another_free_one_of_the_pipeline(redis_url, connect, slots):
    warnings: list[str] = []
    mine = slots(connect(redis_url), ttl=60, warn=warnings.append)
    first = mine.acquire("fan-out", 2)
    assert first is not None and first.slot == 0
    connect(redis_url).flushdb()
    other = slots(connect(redis_url), ttl=60)
    second = other.acquire("fan-out", 2)
    assert second is not None and second.slot == 0  # the lowest free one: first's
    first.renew()
    assert first.held and first.slot == 1
    assert warnings == [
        f"pipeline 'fan-out': {WIPED}; the slot was free and this run holds it again "
        "(slot 1 now, slot 0 before)"
    ]
    assert other.acquire("fan-out", 2) is None  # two runs, two slots: the cap holds
    first.release()
    assert other.holders("fan-out", 2) != []
    second.release()
    assert other.holders("fan-out", 2) == []


def test_a_run_whose_every_slot_was_taken_after_the_loss_says_it_exceeds_the_cap(
    redis_url, connect, slots
):
    warnings: list[str] = []
    mine = slots(connect(redis_url), ttl=60, warn=warnings.append)
    first = mine.acquire("fan-out", 2)
    assert first is not None
    connect(redis_url).flushdb()
    other = slots(connect(redis_url), ttl=60)
    taken = [other.acquire("fan-out", 2), other.acquire("fan-out", 2)]
    assert None not in taken
    first.renew()
    assert first.lost
    assert warnings == [
        f"pipeline 'fan-out': {WIPED}, and other runs took every slot meanwhile: this run "
        "goes on beyond the pipeline's concurrency (2)"
    ]
    for lease in taken:
        assert lease is not None
        lease.release()
    first.release()
