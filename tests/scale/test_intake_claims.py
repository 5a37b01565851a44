"""The deliveries table's claims against a real PostgreSQL: one worker at a time, a dead
worker's lease taken over (the run resumed under its own id), a stale worker's late
finish refused, retries due by the database's clock, and a delivery that kills every
worker declared dead."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hookline.scale._pg import make_pool, migrate
from hookline.scale._pg_deliveries import MAX_TAKEOVERS, Deliveries
from hookline.serve._queue import Delivery, RunOutcome


@pytest.fixture
def table(pg_url: str) -> Iterator[Deliveries]:
    pool = make_pool(pg_url, max_size=8)
    with pool.connection() as conn:
        migrate(conn)
    try:
        yield Deliveries(pool)
    finally:
        pool.close()


def expire(url: str, delivery: str) -> None:
    """Time passes until the lease of ``delivery`` ran out (its worker died): its lease
    and its last publish move back by the same amount."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE deliveries SET"
            " published_at = published_at - (lease_until - now()) - interval '1 second',"
            " lease_until = now() - interval '1 second' WHERE id = %s",
            (delivery,),
        )


def test_eight_workers_claiming_one_delivery_get_it_once(table: Deliveries) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {"n": 1}))
    barrier = threading.Barrier(8, timeout=60)  # a stuck peer is a failure, not a hang

    def claim(index: int) -> Any:
        barrier.wait()
        return table.claim(accepted.run_id, f"worker-{index}", 60)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        claims = [c for c in pool.map(claim, range(8)) if c is not None]
    assert len(claims) == 1
    claim = claims[0]
    assert (claim.run_id, claim.attempt, claim.tries, claim.resume) == (
        accepted.run_id,
        1,
        1,
        False,
    )
    assert claim.input == {"n": 1}


def test_a_dead_workers_lease_is_taken_over_and_its_late_finish_refused(
    table: Deliveries, pg_url: str
) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {}))
    first = table.claim(accepted.run_id, "worker-a", 60)
    assert first is not None
    assert table.claim(accepted.run_id, "worker-b", 60) is None  # a live lease
    expire(pg_url, accepted.run_id)
    second = table.claim(accepted.run_id, "worker-b", 60)
    assert second is not None
    assert table.beat([accepted.run_id], "worker-a", 60) == set()  # it knows it lost it
    assert table.beat([accepted.run_id], "worker-b", 60) == {accepted.run_id}
    # The same run, resumed from its checkpoints; not a new attempt.
    assert (second.run_id, second.attempt, second.resume, second.takeover) == (
        first.run_id,
        1,
        True,
        True,
    )
    assert not table.finish(first, "done", outcome="succeeded", output={"stale": True})
    assert table.finish(second, "done", outcome="succeeded", output={"ok": 1})
    assert table.outcome(accepted.run_id) == RunOutcome("succeeded", {"ok": 1}, None)


def test_a_retry_is_due_by_the_databases_clock_and_runs_under_a_new_id(
    table: Deliveries, pg_url: str
) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {}))
    table.due()  # published
    claim = table.claim(accepted.run_id, "worker-a", 60)
    assert claim is not None
    # far off: "not yet" holds however long a loaded machine keeps the test waiting
    assert table.finish(claim, "retry-wait", error="HTTP 503", retry_in=30.0)
    assert table.claim(accepted.run_id, "worker-a", 60) is None  # not yet
    assert table.due() == []
    assert table.outcome(accepted.run_id) is None
    with psycopg.connect(pg_url) as conn:  # time passes, by the database's clock
        conn.execute(
            "UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = %s",
            (accepted.run_id,),
        )
    assert table.due() == [(accepted.run_id, "retry")]
    again = table.claim(accepted.run_id, "worker-b", 60)
    assert again is not None
    assert again.run_id != accepted.run_id
    assert (again.attempt, again.tries, again.resume) == (2, 2, False)
    found = table.get(accepted.run_id)
    assert found is not None and found["error"] is None  # the old error is not shown


def test_a_handed_back_delivery_resumes_its_run_and_a_given_back_claim_is_not_counted(
    table: Deliveries,
) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {}))
    claim = table.claim(accepted.run_id, "worker-a", 60)
    assert claim is not None
    assert table.finish(claim, "queued", error="the worker is stopping")
    assert table.due() == [(accepted.run_id, "unpublished")]
    resumed = table.claim(accepted.run_id, "worker-b", 60)
    assert resumed is not None
    assert (resumed.run_id, resumed.attempt, resumed.resume) == (claim.run_id, 1, True)
    assert table.unclaim(resumed)  # no free slot: back as it was
    row = table.get(accepted.run_id)
    assert row is not None
    assert (row["status"], row["attempts"], row["resume_run"]) == ("queued", 1, claim.run_id)


def test_a_delivery_whose_workers_keep_dying_is_declared_dead(
    table: Deliveries, pg_url: str
) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {}))
    assert table.claim(accepted.run_id, "worker-0", 60) is not None
    for index in range(MAX_TAKEOVERS):
        expire(pg_url, accepted.run_id)
        assert table.claim(accepted.run_id, f"worker-{index + 1}", 60) is not None
    expire(pg_url, accepted.run_id)
    assert table.claim(accepted.run_id, "worker-last", 60) is None
    row = table.get(accepted.run_id)
    assert row is not None
    assert row["status"] == "dead"
    assert row["error"] == (
        f"its worker stopped without a word {MAX_TAKEOVERS} times in a row while running it "
        "(killed, or out of memory); replay it once the cause is fixed"
    )
    assert table.due() == []


def test_the_takeover_limit_counts_the_deaths_since_the_last_outcome(
    table: Deliveries, pg_url: str
) -> None:
    # A long delivery lives through several deploys that kill its workers; each time a
    # worker gets as far as recording an outcome (a retry, a hand-back), the count starts
    # again: only MAX_TAKEOVERS deaths in a row make it dead.
    accepted = table.insert(Delivery("orders", "webhook", {}))
    claim = table.claim(accepted.run_id, "worker-0", 60)
    for outcome in ("retry-wait", "queued", "done"):
        for index in range(MAX_TAKEOVERS):
            expire(pg_url, accepted.run_id)
            claim = table.claim(accepted.run_id, f"{outcome}-{index}", 60)
            assert claim is not None, (outcome, index)
        assert table.finish(claim, outcome, error="HTTP 503", retry_in=0.0)
        if outcome != "done":
            claim = table.claim(accepted.run_id, f"{outcome}-next", 60)
            assert claim is not None, outcome
    row = table.get(accepted.run_id)
    assert row is not None
    assert (row["status"], row["takeovers"]) == ("done", 0)


def test_a_lost_workers_delivery_is_due_once_per_expiry(table: Deliveries, pg_url: str) -> None:
    accepted = table.insert(Delivery("orders", "webhook", {}))
    assert table.due() == [(accepted.run_id, "unpublished")]
    assert table.claim(accepted.run_id, "worker-a", 60) is not None
    assert table.due() == []  # running under a live lease
    expire(pg_url, accepted.run_id)
    assert table.due() == [(accepted.run_id, "lost")]
    assert table.due() == []  # published again once, not every round
    # Still not claimed after the republish time: published again.
    assert table.due(republish=0) == [(accepted.run_id, "lost")]
