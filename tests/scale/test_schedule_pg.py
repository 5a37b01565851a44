"""The leader's schedule marks and poll baselines in PostgreSQL (migration 0005)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hookline.scale._pg import make_pool, migrate
from hookline.scale._pg_schedule import PgPollStore, PgScheduleMarks, StaleLeader, next_term


@pytest.fixture
def pool(pg_url) -> Iterator:
    pool = make_pool(pg_url, max_size=4)
    with pool.connection() as conn:
        migrate(conn)
    yield pool
    pool.close()


def test_the_migration_records_version_5(pool):
    with pool.connection() as conn:
        names = dict(conn.execute("SELECT version, name FROM hookline_migrations").fetchall())
    assert names[5] == "schedule_poll"


def test_marks_only_move_forward_and_an_older_term_never_overwrites(pool):
    term = {"now": 3}
    marks = PgScheduleMarks(pool, fence=lambda: term["now"])
    marks.record([("a", 120.0), ("b", 60.0)])
    marks.record([("a", 60.0)])  # an older fire handled late: the mark stays
    assert marks.last_fires() == {"a": 120.0, "b": 60.0}
    told: list[tuple[int, str]] = []
    # a leader of an older term: refused, and told so that it steps down
    stale = PgScheduleMarks(pool, fence=lambda: 2, on_stale=lambda *a: told.append(a))
    with pytest.raises(StaleLeader) as caught:
        stale.record([("a", 600.0)])
    why = (
        "a newer leader (term 3) recorded the schedules' last fires; this instance's "
        "(term 2) are dropped"
    )
    assert str(caught.value) == why
    assert told == [(2, why)]
    assert marks.last_fires()["a"] == 120.0
    gone = PgScheduleMarks(pool, fence=lambda: None)  # no longer leading at all
    gone.record([("b", 600.0)])
    assert marks.last_fires()["b"] == 60.0


def test_a_baseline_round_trips_byte_for_byte_and_commits_only_the_difference(pool):
    store = PgPollStore(pool, fence=lambda: 1)
    assert store.load("contacts") is None
    odd = {"nul\x00id": "m\x00", "lone\ud800": "x\udfff", "plain": "2026-03-01T00:00:00Z"}
    store.commit("contacts", None, odd)
    assert store.load("contacts") == odd
    after = {"plain": "2026-03-02T00:00:00Z", "new": "1"}
    store.commit("contacts", odd, after)
    assert PgPollStore(pool).load("contacts") == after
    with pool.connection() as conn:
        records, version = conn.execute(
            "SELECT records, version FROM poll_polls WHERE pipeline = 'contacts'"
        ).fetchone()
    assert (records, version) == (2, 2)
    store.forget("contacts")
    assert store.load("contacts") is None


def test_a_commit_after_another_leader_committed_leaves_exactly_its_own_baseline(pool):
    old = PgPollStore(pool, fence=lambda: 1)
    old.commit("p", None, {"a": "1", "b": "1"})
    assert old.load("p") == {"a": "1", "b": "1"}
    new = PgPollStore(pool, fence=lambda: 2)
    new.load("p")
    new.commit("p", {"a": "1", "b": "1"}, {"a": "2", "c": "1"})
    # the old leader, unaware, commits a diff against what it loaded before: refused
    told: list[tuple[int, str]] = []
    old.on_stale = lambda *a: told.append(a)
    with pytest.raises(StaleLeader) as caught:
        old.commit("p", {"a": "1", "b": "1"}, {"a": "1"})
    why = "a newer leader (term 2) committed this poll's baseline; this instance's (term 1) is dropped"
    assert str(caught.value) == why
    assert told == [(1, why)]  # so that it steps down
    assert new.load("p") == {"a": "2", "c": "1"}
    # a same-term store whose load is out of date rewrites the whole baseline
    again = PgPollStore(pool, fence=lambda: 2)
    again.load("p")
    new.commit("p", {"a": "2", "c": "1"}, {"a": "3"})
    again.commit("p", {"a": "2", "c": "1"}, {"a": "2", "d": "1"})
    assert new.load("p") == {"a": "2", "d": "1"}


def test_the_leader_terms_start_above_every_term_already_stored(pool):
    # A database a leader used before migration 0006 (terms counted in Redis then).
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO poll_polls (pipeline, records, version, term) VALUES ('p', 0, 1, 40)"
        )
        conn.execute("INSERT INTO schedule_fires (pipeline, last_fire, term) VALUES ('s', 60, 41)")
        conn.execute("DROP SEQUENCE hookline_leader_term")
        conn.execute("DELETE FROM hookline_migrations WHERE version = 6")
    with pool.connection() as conn:
        assert migrate(conn) == [6]
    assert [next_term(pool), next_term(pool)] == [42, 43]


def test_a_store_that_no_longer_leads_refuses_to_commit(pool):
    store = PgPollStore(pool, fence=lambda: None)
    with pytest.raises(StaleLeader) as caught:
        store.commit("p", None, {"a": "1"})
    assert str(caught.value) == (
        "this instance no longer leads: the baseline is left to the leader's next poll"
    )
    assert PgPollStore(pool).load("p") is None
