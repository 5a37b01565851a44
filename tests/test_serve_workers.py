"""The worker pool, in process, against a real local REST server: runs under the id fixed
at intake, run-level retry then dead, a graceful stop that leaves a run queued and the
next start resuming it."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from hookline._load import load_pipeline
from hookline._log import RunLog
from hookline._store import Store
from hookline.serve._intake_sqlite import SqliteIntake
from hookline.serve._queue import Delivery, RunOutcome
from hookline.serve._workers import WorkerPool
from servers.rest_app import RestServer


@pytest.fixture(scope="module")
def rest() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


@pytest.fixture
def server(rest: RestServer) -> RestServer:
    rest.reset()
    return rest


class Pool:
    """An intake, a history and a worker pool on one home, as ``hookline serve`` has."""

    def __init__(self, tmp_path: Path, *texts: str, workers: int = 2) -> None:
        self.home = tmp_path / "home"
        self.db = self.home / "hookline.db"
        self.pipelines = {}
        for index, text in enumerate(texts):
            path = tmp_path / f"p{index}.yaml"
            path.write_text(text, encoding="utf-8")
            pipeline = load_pipeline(path, cache=None)
            self.pipelines[pipeline.name] = pipeline
        self.log = io.StringIO()
        self.workers = workers
        self.start()

    def start(self) -> None:
        self.intake = SqliteIntake(self.db)
        self.store = Store(self.db)
        self.pool = WorkerPool(
            self.intake,
            home=self.home,
            lookup=self.pipelines.get,
            recorder=self.store,
            workers=self.workers,
            make_log=lambda: RunLog(self.log),
        )
        self.pool.start()

    def stop(self, grace: float = 10.0) -> list[str]:
        cancelled = self.pool.stop(grace)
        self.intake.close()
        self.store.close()
        return cancelled

    def submit(self, pipeline: str, value: object, key: str | None = None) -> str:
        return self.intake.submit(Delivery(pipeline, "webhook", value, key)).result().run_id

    def delivery(self, run_id: str) -> dict[str, object]:
        with closing(sqlite3.connect(self.db)) as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM deliveries WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row)

    def wait(self, run_id: str, *statuses: str) -> dict[str, object]:
        deadline = time.monotonic() + 30
        while (row := self.delivery(run_id))["status"] not in statuses:
            assert time.monotonic() < deadline, (row["status"], row["error"])
            time.sleep(0.02)
        return row

    def runs(self, run_id: str) -> list[tuple[int, str, str, str]]:
        """(attempt, run id, status, trigger) of every run of the delivery."""
        with closing(sqlite3.connect(self.db)) as con:
            return con.execute(
                "SELECT r.attempt, r.run_id, runs.status, runs.trigger FROM delivery_runs r"
                " JOIN deliveries d ON d.id = r.delivery JOIN runs ON runs.id = r.run_id"
                " WHERE d.run_id = ? ORDER BY r.attempt",
                (run_id,),
            ).fetchall()


ECHO = """\
version: 1
name: echo
trigger: {{webhook: {{path: /hooks/echo}}}}
steps:
  - id: send
    rest: {{url: "{url}/echo", method: POST, json: {{n: "${{{{ input.n }}}}"}}}}
output:
  sent: "${{{{ steps.send.body.json.n }}}}"
"""

FAILING = """\
version: 1
name: failing
trigger:
  webhook:
    path: /hooks/failing
    retry: {{attempts: 3, backoff: 0.05}}
steps:
  - id: send
    rest: {{url: "{url}/status/500", method: POST, json: {{n: "${{{{ input.n }}}}"}}}}
"""


def test_a_delivery_runs_under_the_run_id_given_at_intake(tmp_path, server):
    pool = Pool(tmp_path, ECHO.format(url=server.url))
    try:
        run_id = pool.submit("echo", {"n": 7}, key="abc")
        outcome = pool.intake.outcome(run_id, 30)
        row = pool.wait(run_id, "done")
    finally:
        pool.stop()
    assert outcome == RunOutcome("succeeded", {"sent": 7}, None)
    assert (row["attempts"], row["last_run"], row["error"]) == (1, run_id, None)
    assert pool.runs(run_id) == [(1, run_id, "succeeded", "webhook")]
    assert [r.json for r in server.requests_to("/echo")] == [{"n": 7}]
    # Another process (or a later start) reads the outcome from the table: a sync reply
    # to a duplicate of a delivery done before.
    later = SqliteIntake(pool.db)
    try:
        assert later.outcome(run_id, 0) == outcome
        assert later.outcome("0" * 32, 0) is None
    finally:
        later.close()


def test_a_failed_run_is_retried_then_dead(cli, tmp_path, server):
    pool = Pool(tmp_path, FAILING.format(url=server.url))
    try:
        run_id = pool.submit("failing", {"n": 1})
        row = pool.wait(run_id, "dead")
    finally:
        pool.stop()
    runs = pool.runs(run_id)
    assert [(attempt, status) for attempt, _, status, _ in runs] == [
        (1, "failed"),
        (2, "failed"),
        (3, "dead"),  # the last attempt's run is dead too: `hookline runs --status dead`
    ]
    assert runs[0][1] == run_id and len({r[1] for r in runs}) == 3
    assert row["last_run"] == runs[-1][1]
    assert row["attempts"] == 3
    assert str(row["error"]).startswith("dead after 3 attempts; the last: ")
    assert len(server.requests_to("/status/500")) == 3
    log = pool.log.getvalue()
    assert f"run {run_id} of 'failing' failed (attempt 1 of 3); the next attempt in 0.05s" in log
    assert "(attempt 2 of 3); the next attempt in 0.1s" in log  # the backoff doubles
    dead = cli("runs", "--status", "dead", "--format", "json", "--db", str(pool.db))
    assert dead.code == 0
    assert [(r["id"], r["status"]) for r in json.loads(dead.out)] == [(runs[-1][1], "dead")]


def test_without_retry_a_failed_run_is_dead_at_once(tmp_path, server):
    text = FAILING.format(url=server.url).replace("    retry: {attempts: 3, backoff: 0.05}\n", "")
    pool = Pool(tmp_path, text)
    try:
        run_id = pool.submit("failing", {"n": 1})
        row = pool.wait(run_id, "dead")
    finally:
        pool.stop()
    assert [(a, s) for a, _, s, _ in pool.runs(run_id)] == [(1, "dead")]
    assert not str(row["error"]).startswith("dead after")
    assert len(server.requests_to("/status/500")) == 1


TWO_STEPS = """\
version: 1
name: two
trigger: {{webhook: {{path: /hooks/two}}}}
steps:
  - id: first
    rest: {{url: "{url}/slow?seconds=0.5"}}
  - id: second
    rest: {{url: "{url}/echo", method: POST, json: {{n: "${{{{ input.n }}}}"}}}}
"""


def test_a_stop_leaves_an_unfinished_run_queued_and_the_next_start_resumes_it(tmp_path, server):
    pool = Pool(tmp_path, TWO_STEPS.format(url=server.url))
    run_id = pool.submit("two", {"n": 3})
    deadline = time.monotonic() + 30
    while not server.requests_to("/slow"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancelled = pool.stop(grace=0.05)  # the first step is under way: it is cancelled
    row = pool.delivery(run_id)
    assert cancelled == [run_id]
    assert (row["status"], row["resume_run"]) == ("queued", run_id)
    assert server.requests_to("/echo") == []  # the second step never began
    pool.start()
    try:
        row = pool.wait(run_id, "done")
    finally:
        pool.stop()
    assert len(server.requests_to("/slow")) == 1  # the first step's result was reused
    assert [r.json for r in server.requests_to("/echo")] == [{"n": 3}]
    assert pool.runs(run_id) == [(1, run_id, "succeeded", "webhook")]


def test_done_deliveries_are_forgotten_after_their_days_with_their_key(tmp_path, server):
    pool = Pool(tmp_path, ECHO.format(url=server.url))
    try:
        run_id = pool.submit("echo", {"n": 1}, key="once")
        pool.wait(run_id, "done")
        assert pool.pool.claims.forget_done(time.time() - 60) == 0  # done just now: kept
        assert pool.intake.submit(Delivery("echo", "webhook", {}, "once")).result().duplicate
        assert pool.pool.claims.forget_done(time.time() + 1) == 1
        again = pool.intake.submit(Delivery("echo", "webhook", {"n": 2}, "once")).result()
        pool.wait(again.run_id, "done")
    finally:
        pool.stop()
    assert not again.duplicate  # its key was forgotten with it
    assert pool.pool.keep_done_days == 7


def test_delivery_days_from_the_environment():
    from hookline._errors import UsageError
    from hookline.serve._workers import keep_days_from_env

    assert keep_days_from_env({"HOOKLINE_DELIVERY_DAYS": "0.5"}) == 0.5
    with pytest.raises(UsageError) as bad:
        keep_days_from_env({"HOOKLINE_DELIVERY_DAYS": "0"})
    assert str(bad.value) == "HOOKLINE_DELIVERY_DAYS='0': expected a number of days over 0"


@pytest.mark.parametrize(
    ("retry", "problem"),
    [
        ("{attempts: 0}", "6:23: trigger.webhook.retry.attempts: must be >= 1, got 0"),
        ("{backoff: 0s}", "6:22: '0s' is not a usable duration: it must be more than 0"),
        (
            "{max_backoff: 800h}",
            "6:26: '800h' is too long a duration: the most is 30 days ('720h')",
        ),
    ],
)
def test_check_locates_a_bad_run_level_retry(cli, write, retry, problem):
    text = "version: 1\nname: r\ntrigger:\n  webhook:\n    path: /h\n"
    path = write("p.yaml", text + f"    retry: {retry}\nsteps:\n  - id: one\n    set: 1\n")
    result = cli("check", path)
    assert (result.code, result.out) == (2, f"{path}:{problem}\n")


class _Slot:
    def release(self) -> None:
        pass


def test_a_delivery_of_this_process_that_no_worker_runs_is_taken_back_once_stale(tmp_path):
    from hookline.serve._intake_claims import Claims

    db = tmp_path / "home" / "hookline.db"
    intake = SqliteIntake(db)
    run_id = intake.submit(Delivery("echo", "webhook", {})).result().run_id
    intake.close()
    claims = Claims(db)
    try:
        got = claims.claim(lambda name: _Slot())
        assert got is not None
        claim = got[0]
        later = time.time() + 120  # its heartbeat is stale by then
        assert claims.recover(later, live={claim.id}) == []  # a worker runs it
        assert claims.recover(time.time(), live=set()) == []  # not stale yet
        back = claims.recover(later, live=set())
    finally:
        claims.close()
    assert [row["run_id"] for row in back] == [run_id]
    assert back[0]["reason"].startswith("no sign of life from its process for 1")
    with closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT status, resume_run FROM deliveries").fetchone()
    assert row == ("queued", run_id)


def test_a_backlog_of_a_busy_pipeline_does_not_hide_the_others(tmp_path):
    from hookline.serve._intake_claims import Claims

    db = tmp_path / "home" / "hookline.db"
    intake = SqliteIntake(db)
    for n in range(200):  # more than one scan's worth
        intake.submit(Delivery("backlog", "webhook", {"n": n}))
    other = intake.submit(Delivery("other", "webhook", {})).result().run_id
    intake.close()
    claims = Claims(db)
    try:
        asked: list[str] = []

        def take(name: str) -> _Slot | None:
            asked.append(name)
            return None if name == "backlog" else _Slot()

        got = claims.claim(take)
        assert got is not None
        assert got[0].run_id == other
        assert asked == ["backlog", "other"]  # one look at the busy pipeline, not 200
        assert claims.claim(take) is None  # the rest all wait for the busy one
    finally:
        claims.close()


def test_old_done_deliveries_are_forgotten_a_thousand_at_a_time(tmp_path):
    from hookline.serve._intake_claims import Claims

    db = tmp_path / "home" / "hookline.db"
    intake = SqliteIntake(db)
    for n in range(2500):
        intake.submit(Delivery("p", "webhook", {}, key=str(n)))
    intake.submit(Delivery("p", "webhook", {}, key="waiting")).result()
    intake.close()
    with closing(sqlite3.connect(db)) as con:
        con.execute("UPDATE deliveries SET status = 'done', finished_at = 1 WHERE key != 'waiting'")
        con.commit()
    claims = Claims(db)
    try:
        assert claims.forget_done(time.time()) == 2500
    finally:
        claims.close()
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT key, status FROM deliveries").fetchall() == [
            ("waiting", "queued")
        ]
