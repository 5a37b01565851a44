"""A worker's admin listener: /healthz says whether it can work (and why not), /metrics
counts what it did."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbservers import PgServer, RedisServer
from procs import Procs
from worker_support import Producer, pipeline, wait_metric, write

from hookline.serve._queue import Delivery
from servers.gate_server import GateServer


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_healthz_says_200_then_503_with_the_reason_when_the_database_stops(
    tmp_path: Path, redis_url: str, make_pg: Callable[[], PgServer], gate: GateServer
) -> None:
    pg = make_pg()  # a private server: this test stops it
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg.url}
    folder = write(
        tmp_path / "pipelines",
        orders=pipeline("orders", f'  - id: send\n    rest: {{url: "{gate.url}/x"}}\n'),
    )
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        answer = worker.get("/healthz")
        assert answer.status == 200
        report = answer.json()
        assert (report["status"], report["broker"], report["database"]) == (
            "ok",
            "connected",
            "ok",
        )
        pg.stop()
        deadline = time.monotonic() + 30
        while (answer := worker.get("/healthz")).status == 200:
            assert time.monotonic() < deadline, "still healthy with the database stopped"
            time.sleep(0.1)
        assert answer.status == 503
        report = answer.json()
        assert report["status"] == "unavailable"
        assert report["broker"] == "connected"
        assert report["database"].startswith("unreachable (")
        assert report["reason"] == f"database: {report['database']}"
        pg.start()
        deadline = time.monotonic() + 60
        while worker.get("/healthz").status != 200:
            assert time.monotonic() < deadline, "not healthy again once the database is back"
            time.sleep(0.2)
        assert worker.terminate() == 0


def test_healthz_says_503_while_the_broker_is_down(
    tmp_path: Path, make_redis: Callable[[], RedisServer], pg_url: str, gate: GateServer
) -> None:
    broker = make_redis()
    urls = {"HOOKLINE_BROKER_URL": broker.url, "HOOKLINE_DATABASE_URL": pg_url}
    folder = write(
        tmp_path / "pipelines",
        orders=pipeline("orders", f'  - id: send\n    rest: {{url: "{gate.url}/x"}}\n'),
    )
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        broker.stop()
        deadline = time.monotonic() + 30
        while (answer := worker.get("/healthz")).status == 200:
            assert time.monotonic() < deadline, "still healthy with the broker stopped"
            time.sleep(0.1)
        assert answer.json()["broker"] == "not connected"
        assert answer.json()["reason"].startswith("broker: not connected")
        broker.start()
        deadline = time.monotonic() + 60
        while worker.get("/healthz").status != 200:
            assert time.monotonic() < deadline, "not healthy again once the broker is back"
            time.sleep(0.2)
        assert worker.terminate() == 0


def test_metrics_count_runs_by_status_and_the_queue_depth(
    tmp_path: Path, redis_url: str, pg_url: str, gate: GateServer
) -> None:
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}
    steps = f'  - id: send\n    rest: {{url: "{gate.url}/${{{{ input.path }}}}"}}\n'
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    gate.answers["/bad"] = (500, {"error": "no"})
    with Producer(pg_url, redis_url) as producer, Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        ok = [producer.send("orders", {"path": "good"}) for _ in range(2)]
        bad = producer.send("orders", {"path": "bad"})
        for id in [*ok, bad]:
            producer.wait(id)
        # Deliveries waiting for a pipeline no worker serves: the queue depth shows them.
        for _ in range(3):
            producer.deliveries.insert(_delivery("elsewhere"))
        # a run is counted just after its row was committed: wait for the last count
        wait_metric(worker, 'hookline_run_duration_seconds_count{pipeline="orders"}', 3)
        metrics = wait_metric(worker, "hookline_runs_in_flight", 0)
        assert 'hookline_runs_total{pipeline="orders",status="succeeded"} 2.0' in metrics
        assert 'hookline_runs_total{pipeline="orders",status="failed"} 1.0' in metrics
        assert 'hookline_run_duration_seconds_count{pipeline="orders"} 3.0' in metrics
        assert "hookline_runs_in_flight 0.0" in metrics
        assert "hookline_redeliveries_total 0.0" in metrics
        assert "hookline_lease_takeovers_total 0.0" in metrics
        assert "hookline_queue_depth 3.0" in metrics
        assert worker.terminate() == 0


def _delivery(name: str) -> Delivery:
    return Delivery(name, "webhook", {}, None, time.time())


def test_a_worker_whose_broker_is_down_still_stops_at_sigterm(
    tmp_path: Path, make_redis: Callable[[], RedisServer], pg_url: str, gate: GateServer
) -> None:
    broker = make_redis()
    urls = {"HOOKLINE_BROKER_URL": broker.url, "HOOKLINE_DATABASE_URL": pg_url}
    folder = write(
        tmp_path / "pipelines",
        orders=pipeline("orders", f'  - id: send\n    rest: {{url: "{gate.url}/x"}}\n'),
    )
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        broker.stop()
        deadline = time.monotonic() + 30
        while worker.get("/healthz").status == 200:
            assert time.monotonic() < deadline, "still healthy with the broker stopped"
            time.sleep(0.1)
        assert worker.terminate(timeout=30) == 0
    assert worker.output.rstrip().endswith("stopped")
    assert "Traceback" not in worker.output


def test_a_message_that_comes_while_the_database_is_down_waits_in_the_broker(
    tmp_path: Path, redis_url: str, make_pg: Callable[[], PgServer], gate: GateServer
) -> None:
    pg = make_pg()
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg.url}
    folder = write(
        tmp_path / "pipelines",
        orders=pipeline("orders", f'  - id: send\n    rest: {{url: "{gate.url}/x"}}\n'),
    )
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        with Producer(pg.url, redis_url) as producer:
            run_id = producer.deliveries.insert(_delivery("orders")).run_id
            pg.stop()
            producer.publish(run_id)
        worker.wait_for(f"^error: delivery {run_id}: cannot claim it: ")
        time.sleep(5)  # it is handed back, taken, handed back...: said once
        assert worker.output.count("cannot claim it") == 1
        assert gate.hits["GET /x"] == 0
        pg.start()
        with Producer(pg.url, redis_url) as producer:
            row = producer.wait(run_id)
        assert (row["status"], row["attempts"]) == ("done", 1)
        assert gate.hits["GET /x"] == 1
        assert worker.terminate() == 0
    assert "celery:" not in worker.output  # each hand-back is not a line of its own
