"""The embedded intake: a delivery is acknowledged only once committed; duplicates by key;
a bounded queue; a store that cannot commit refuses the delivery instead of losing it."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from hookline._errors import UsageError
from hookline.serve._intake_sqlite import QUEUE_FULL_RETRY_AFTER, SqliteIntake
from hookline.serve._intake_store import durability_from_env
from hookline.serve._queue import Accepted, Delivery, IntakeUnavailable, QueueFull, RunOutcome


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "hookline.db"


def hook(key: str | None = None, pipeline: str = "calls", value: object = None) -> Delivery:
    return Delivery(pipeline, "webhook", {"n": 1} if value is None else value, key)


def stored(db: Path) -> list[tuple[str, str, str | None, str]]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(
            "SELECT run_id, pipeline, key, status FROM deliveries ORDER BY id"
        ).fetchall()


def test_no_future_resolves_before_its_delivery_is_committed(db):
    intake = SqliteIntake(db)
    seen_by_another_connection: list[bool] = []
    lock = threading.Lock()

    def check(future) -> None:  # runs the moment the future resolves
        run_id = future.result().run_id
        with closing(sqlite3.connect(db)) as con:
            found = con.execute("SELECT 1 FROM deliveries WHERE run_id = ?", (run_id,)).fetchone()
        with lock:
            seen_by_another_connection.append(found is not None)

    def client(number: int) -> None:
        for index in range(100):
            intake.submit(hook(f"{number}-{index}")).add_done_callback(check)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    intake.close()
    assert seen_by_another_connection == [True] * 800
    assert len(stored(db)) == 800
    assert intake.depth() == 800


def test_a_key_seen_before_is_a_duplicate_with_the_first_run_id(db):
    intake = SqliteIntake(db)
    first = intake.submit(hook("d-1")).result()
    again = intake.submit(hook("d-1")).result()
    other_pipeline = intake.submit(hook("d-1", pipeline="orders")).result()
    no_key = [intake.submit(hook(None)).result() for _ in range(2)]
    # Two deliveries with one key in the same batch: the second is the duplicate.
    pair = [intake.submit(hook("d-2")), intake.submit(hook("d-2"))]
    both = [future.result() for future in pair]
    intake.close()
    assert first == Accepted(first.run_id, False)
    assert again == Accepted(first.run_id, True)
    assert not other_pipeline.duplicate and other_pipeline.run_id != first.run_id
    assert [a.duplicate for a in no_key] == [False, False]
    assert no_key[0].run_id != no_key[1].run_id
    assert both == [Accepted(both[0].run_id, False), Accepted(both[0].run_id, True)]
    assert len(first.run_id) == 32
    assert [row[2] for row in stored(db)] == ["d-1", "d-1", None, None, "d-2"]


def test_a_full_queue_refuses_new_deliveries_and_still_answers_duplicates(db):
    intake = SqliteIntake(db, max_queue=3)
    firsts = [intake.submit(hook(f"k{n}")).result() for n in range(3)]
    with pytest.raises(QueueFull) as refused:
        intake.submit(hook("k3")).result()
    duplicate = intake.submit(hook("k0")).result()
    intake.close()
    assert refused.value.retry_after == QUEUE_FULL_RETRY_AFTER == 30
    assert str(refused.value) == "the queue is full (3 deliveries wait); try again in 30s"
    assert duplicate == Accepted(firsts[0].run_id, True)
    assert len(stored(db)) == 3  # nothing of the refused one was kept


def test_a_full_queue_takes_deliveries_again_once_workers_take_some(db):
    intake = SqliteIntake(db, max_queue=1)
    intake.submit(hook("a")).result()
    with pytest.raises(QueueFull):
        intake.submit(hook("b")).result()
    intake.took()  # a worker started the first one
    assert not intake.submit(hook("b")).result().duplicate
    intake.close()


def test_a_locked_database_refuses_the_delivery_it_cannot_commit(db):
    intake = SqliteIntake(db, commit_timeout=0.3)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(IntakeUnavailable) as refused:
            intake.submit(hook("x")).result(timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(refused.value) == (
        "the delivery could not be stored: the database is locked by another process"
    )
    # The lock gone, the same delivery is taken: the refusal stored nothing.
    assert not intake.submit(hook("x")).result().duplicate
    intake.close()
    assert len(stored(db)) == 1


def test_a_database_at_its_size_cap_refuses_deliveries(db):
    intake = SqliteIntake(db, max_mb=0.25)
    big = "x" * 100_000
    with pytest.raises(IntakeUnavailable) as refused:
        for n in range(10):
            intake.submit(hook(f"k{n}", value={"text": big})).result()
    intake.close()
    assert str(refused.value) == (
        "the delivery could not be stored: the disk is full, or the database reached its "
        "cap (HOOKLINE_HISTORY_MAX_MB)"
    )


def test_after_close_a_delivery_is_refused(db):
    intake = SqliteIntake(db)
    intake.close()
    with pytest.raises(IntakeUnavailable, match=r"^the service is stopping$"):
        intake.submit(hook("late")).result()


def test_outcome_waits_for_a_published_run_and_times_out_otherwise(db):
    intake = SqliteIntake(db)
    run_id = intake.submit(hook("o")).result().run_id
    assert intake.outcome(run_id, 0.05) is None
    done = RunOutcome("succeeded", {"ok": True}, None)
    threading.Timer(0.1, intake.publish, (run_id, done)).start()
    assert intake.outcome(run_id, 30) == done
    intake.close()


def test_durability_setting(monkeypatch):
    assert durability_from_env("") == "process"
    assert durability_from_env("power") == "power"
    monkeypatch.setenv("HOOKLINE_DURABILITY", "power")
    assert durability_from_env() == "power"
    with pytest.raises(UsageError) as bad:
        durability_from_env("disk")
    assert str(bad.value) == (
        "durability 'disk': expected 'process' (survives a crash of hookline, the default) "
        "or 'power' (survives a power loss too; slower)"
    )


@pytest.mark.parametrize(("durability", "pragma"), [("process", 1), ("power", 2)])
def test_power_durability_syncs_every_commit(db, durability, pragma):
    intake = SqliteIntake(db, durability=durability)
    assert intake._db.execute("PRAGMA synchronous").fetchone()[0] == pragma  # NORMAL, FULL
    intake.close()


def test_the_database_is_for_its_owner_only(db):
    SqliteIntake(db).close()
    assert db.stat().st_mode & 0o777 == 0o600


def test_a_database_of_a_newer_hookline_is_refused_in_plain_words(db):
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(UsageError) as refused:
        SqliteIntake(db)
    assert str(refused.value) == (
        f"{db}: cannot open the delivery queue: it was written by a newer hookline (schema 99)"
    )


def test_a_home_that_is_a_file_is_refused_in_plain_words(tmp_path):
    (tmp_path / "home").write_text("not a directory")
    with pytest.raises(UsageError) as refused:
        SqliteIntake(tmp_path / "home" / "hookline.db")
    assert str(refused.value) == (
        f"{tmp_path / 'home' / 'hookline.db'}: cannot open the delivery queue: "
        f"{tmp_path / 'home'} is a file, not a directory"
    )
