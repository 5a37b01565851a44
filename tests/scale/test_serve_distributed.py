"""``hookline serve`` in distributed mode, as processes against real PostgreSQL and Redis:
a 2xx only once the delivery is committed (the database down: 503, never 2xx), one
delivery id sent to two serve instances runs once, a delivery acknowledged while the
broker is down runs once it is back, sync replies get their run's outcome, and a full
queue answers 503 with Retry-After."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from procs import Procs

from serve_support import SIGNED, hook

ORDERS = hook(
    "orders",
    "/hooks/orders",
    trigger_extra=SIGNED + "    delivery_header: X-Delivery\n",
    output='"${{ input.n }}"',
)
QUOTE = hook(
    "quote",
    "/hooks/quote",
    trigger_extra=SIGNED + "    reply: sync\n    timeout: 30\n",
    output='{price: "${{ input.n }}", for: "${{ input.who }}"}',
)


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "orders.yaml").write_text(ORDERS, encoding="utf-8")
    (folder / "quote.yaml").write_text(QUOTE, encoding="utf-8")
    return folder


def urls(broker: str, database: str, redis: str | None = None) -> dict[str, str]:
    env = {"HOOKLINE_BROKER_URL": broker, "HOOKLINE_DATABASE_URL": database}
    if redis is not None:
        env["HOOKLINE_REDIS_URL"] = redis
    return env


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_the_database_down_is_503_never_2xx_and_back_is_202(
    procs: Procs, pipelines: Path, make_pg: Any, redis_url: str
) -> None:
    server = make_pg()
    server.execute("CREATE DATABASE hooks")
    database = server.url_for("hooks")
    front = procs.serve(pipelines, env=urls(redis_url, database))
    first = front.post("/hooks/orders", {"n": 1})
    assert first.status == 202
    server.stop()
    started = time.monotonic()
    refused = front.post("/hooks/orders", {"n": 2})
    assert refused.status == 503
    assert refused.json() == {"error": "the delivery could not be stored: try again later"}
    assert time.monotonic() - started < 5 + 10  # the commit timeout, not a hang
    # A load balancer stops sending here: /healthz is 503 while the database is away.
    down = wait_until(lambda: front.get("/healthz").status == 503, 15)
    assert down
    health = json.loads(front.get("/healthz").body)
    assert health["status"] == "database unavailable"
    assert health["database"] != "ok"
    server.start()
    answers = [503]

    def accepted() -> bool:
        answers.append(front.post("/hooks/orders", {"n": 3}).status)
        return answers[-1] == 202

    assert wait_until(accepted, 60)
    assert wait_until(lambda: front.get("/healthz").status == 200, 15)
    assert set(answers) == {503, 202}  # nothing else while the pool reconnects
    # Said in the service's log format only: no raw lines of the driver's pool.
    assert "error connecting in" not in front.output
    inputs = sorted(r[0]["n"] for r in query(database, "SELECT input FROM deliveries"))
    assert inputs == [1, 3]  # the refused ones were never stored
    refusals = answers.count(503)
    assert f'hookline_deliveries_refused_total{{reason="unavailable"}} {refusals}.0' in (
        front.metrics()
    )


def test_one_delivery_id_sent_to_two_serve_instances_runs_once(
    procs: Procs, pipelines: Path, pg_url: str, redis_url: str
) -> None:
    env = urls(redis_url, pg_url)
    fronts = [procs.serve(pipelines, env=env), procs.serve(pipelines, env=env)]

    def send(index: int) -> Any:
        front = fronts[index % 2]
        return front.post("/hooks/orders", {"n": 21}, headers={"X-Delivery": "evt-77"})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert sorted(a.status for a in answers) == [200, 200, 200, 202]
    run_ids = {a.json()["run_id"] for a in answers}
    assert len(run_ids) == 1
    assert [a.json().get("duplicate") for a in answers if a.status == 200] == [True] * 3
    procs.worker(pipelines, env=env)
    (run_id,) = run_ids
    assert wait_until(
        lambda: query(pg_url, "SELECT status FROM deliveries WHERE id = %s", run_id) == [("done",)]
    )
    time.sleep(1.0)  # a second run, were there one, would have started by now
    assert query(pg_url, "SELECT count(*) FROM deliveries") == [(1,)]
    assert query(pg_url, "SELECT id, status FROM runs WHERE pipeline = 'orders'") == [
        (run_id, "succeeded")
    ]


def test_a_delivery_acknowledged_while_the_broker_is_down_runs_once_it_is_back(
    procs: Procs, pipelines: Path, pg_url: str, redis_url: str, make_redis: Any
) -> None:
    broker = make_redis()
    env = urls(broker.url_for(1), pg_url, redis_url)  # the leader's lease stays up
    front = procs.serve(pipelines, env=env)
    broker.stop()
    answer = front.post("/hooks/orders", {"n": 5}, headers={"X-Delivery": "while-down"})
    assert answer.status == 202
    run_id = answer.json()["run_id"]
    front.wait_for(r"cannot publish to the broker: .*; the deliveries wait in the database")
    broker.start()
    front.wait_for(r"the broker answers again: publishing")
    procs.worker(pipelines, env=env)
    assert wait_until(
        lambda: (
            query(pg_url, "SELECT status, output FROM deliveries WHERE id = %s", run_id)
            == [("done", 5)]
        )
    )
    assert query(pg_url, "SELECT count(*) FROM runs") == [(1,)]
    assert 'hookline_dispatched_total{reason="unpublished"} 1.0' in front.metrics()


def test_a_sync_webhook_is_answered_with_its_runs_output(
    procs: Procs, pipelines: Path, pg_url: str, redis_url: str
) -> None:
    env = urls(redis_url, pg_url)
    front = procs.serve(pipelines, env=env)
    procs.worker(pipelines, env=env)
    answer = front.post("/hooks/quote", {"n": 7, "who": "ada"})
    assert answer.status == 200
    assert answer.json() == {"price": 7, "for": "ada"}
    # Counted from the table (at most a second old): nothing waits, nothing runs.
    assert wait_until(lambda: "hookline_queue_depth 0.0" in front.metrics(), 10)
    assert "hookline_runs_in_flight 0.0" in front.metrics()


def test_a_full_queue_is_503_with_retry_after(
    procs: Procs, pipelines: Path, pg_url: str, redis_url: str
) -> None:
    front = procs.serve(pipelines, "--max-queue", "2", env=urls(redis_url, pg_url))
    assert front.post("/hooks/orders", {"n": 1}).status == 202
    assert front.post("/hooks/orders", {"n": 2}).status == 202
    refused = front.post("/hooks/orders", {"n": 3})
    assert refused.status == 503
    assert refused.headers["retry-after"] == "30"
    assert refused.json() == {"error": "the queue is full: try again later"}
    assert query(pg_url, "SELECT count(*) FROM deliveries") == [(2,)]
    # serve answers before its first bid for the lease is won: wait for it to lead
    wait_until(lambda: json.loads(front.get("/healthz").body)["leader"], 30)
    health = json.loads(front.get("/healthz").body)
    assert (health["mode"], health["leader"], health["queue_depth"]) == ("distributed", True, 2)
