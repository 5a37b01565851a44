"""``hookline worker`` runs what is queued: each delivery once, recorded in PostgreSQL,
the work shared by several worker processes; duplicate messages run nothing."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Procs
from worker_support import Producer, metric, pipeline, wait_metric, write

from servers.gate_server import GateServer


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


# The test cluster trusts every local connection: a password in the URL is accepted, and
# must never be shown.
PASSWORD = "pg-secret-7f3a"


@pytest.fixture
def urls(redis_url: str, pg_url: str) -> dict[str, str]:
    database = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    assert PASSWORD in database
    return {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": database}


@pytest.fixture
def producer(urls: dict[str, str]) -> Iterator[Producer]:
    with Producer(urls["HOOKLINE_DATABASE_URL"], urls["HOOKLINE_BROKER_URL"]) as made:
        yield made


def test_a_queued_delivery_is_run_and_recorded_in_the_database(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    steps = f"""\
  - id: send
    rest: {{url: "{gate.url}/orders", method: POST, json: {{order: "${{{{ input.order }}}}"}}}}
output: "${{{{ steps.send.body }}}}"
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        run_id = producer.send("orders", {"order": 7})
        row = producer.wait(run_id)
        assert (row["status"], row["error"], row["attempts"]) == ("done", None, 1)
        assert gate.bodies == [{"order": 7}]
        assert gate.hits["POST /orders"] == 1
        record = producer.sql(
            "SELECT status, pipeline, trigger, output FROM runs WHERE id = %s", run_id
        )
        assert record[0][:3] == ("succeeded", "orders", "webhook")
        assert json.loads(record[0][3]) == {"method": "POST", "path": "/orders"}
        # counted just after the row was committed: wait for the count, then read it all
        wait_metric(worker, 'hookline_runs_total{pipeline="orders",status="succeeded"}', 1)
        metrics = wait_metric(worker, "hookline_runs_in_flight", 0)
        assert metric(metrics, 'hookline_runs_total{pipeline="orders",status="succeeded"}') == 1
        assert metric(metrics, "hookline_runs_in_flight") == 0
        assert metric(metrics, "hookline_queue_depth") == 0
        assert worker.terminate() == 0
    # One line says the worker works, and nothing of Celery's banner.
    assert "working on 1 pipeline: 1 webhook, 0 schedules; 4 runs at once" in worker.output
    assert "postgresql://postgres:***@127.0.0.1:" in worker.output
    assert PASSWORD not in worker.output
    assert "celery@" not in worker.output and "[tasks]" not in worker.output


def test_several_workers_share_the_work_and_each_delivery_runs_once(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    # Every run waits at one gate until all four are there: a worker runs two at once
    # (--concurrency 2), so the other worker must have taken the other two.
    steps = f"""\
  - id: wait
    rest: {{url: "{gate.url}/gate/all"}}
  - id: send
    rest: {{url: "{gate.url}/done", method: POST, json: {{n: "${{{{ input.n }}}}"}}}}
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps, concurrency=8))
    with Procs(tmp_path, env=urls) as procs:
        workers = [procs.worker(folder, "--concurrency", "2") for _ in range(2)]
        ids = [producer.send("orders", {"n": n}) for n in range(4)]
        deadline = time.monotonic() + 60
        while gate.hits["GET /gate/all"] < 4:
            assert time.monotonic() < deadline, gate.hits
            time.sleep(0.02)
        gate.open("all")
        rows = [producer.wait(id) for id in ids]
        assert [(r["status"], r["attempts"], r["takeovers"]) for r in rows] == [("done", 1, 0)] * 4
        # each run is counted just after its row was committed: read once none is in flight
        counts = [
            metric(
                wait_metric(w, "hookline_runs_in_flight", 0),
                'hookline_runs_total{pipeline="orders",status="succeeded"}',
            )
            for w in workers
        ]
        assert counts == [2, 2]
        for worker in workers:
            assert worker.terminate() == 0
    assert sorted(body["n"] for body in gate.bodies if body) == [0, 1, 2, 3]  # each once
    assert gate.hits["GET /gate/all"] == 4


def test_a_message_for_a_finished_delivery_runs_nothing(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    steps = f'  - id: send\n    rest: {{url: "{gate.url}/orders", method: POST, json: {{}}}}\n'
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        run_id = producer.send("orders", {})
        finished = producer.wait(run_id)
        import redis  # the scale extra: here, once the fixtures checked it is installed

        # The broker delivers it again (a message sent twice, a lost acknowledgement).
        for _ in range(3):
            producer.publish(run_id)
        broker = redis.Redis.from_url(urls["HOOKLINE_BROKER_URL"])
        try:
            deadline = time.monotonic() + 30
            while broker.llen("hookline") or broker.hlen("unacked"):
                assert time.monotonic() < deadline, "the messages were not taken"
                time.sleep(0.05)
        finally:
            broker.close()
        assert producer.row(run_id) == finished
        assert gate.hits["POST /orders"] == 1
        metrics = worker.metrics()
        assert metric(metrics, 'hookline_runs_total{pipeline="orders",status="succeeded"}') == 1
        assert worker.terminate() == 0


def test_a_delivery_whose_pipeline_has_no_free_slot_waits_queued_unrun(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    # concurrency 1: one run of the pipeline at a time, on every worker together.
    steps = f"""\
  - id: wait
    rest: {{url: "{gate.url}/gate/hold"}}
  - id: send
    rest: {{url: "{gate.url}/done", method: POST, json: {{n: "${{{{ input.n }}}}"}}}}
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps, concurrency=1))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder, "--concurrency", "2")
        first = producer.send("orders", {"n": 1})
        assert gate.arrived("hold", 60)
        second = producer.send("orders", {"n": 2})
        # The worker takes the message, finds the slot held, waits a second, gives the
        # delivery back: queued, its attempt not counted, to be published again.
        deadline = time.monotonic() + 30
        while (row := producer.row(second))["published_at"] is not None:
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        assert (row["status"], row["attempts"], row["lease_owner"]) == ("queued", 0, None)
        assert gate.hits["GET /gate/hold"] == 1
        gate.open("hold")
        assert producer.wait(first)["status"] == "done"
        row = producer.wait(second, dispatch=True)  # the leader publishes it again
        assert (row["status"], row["attempts"]) == ("done", 1)
        assert worker.terminate() == 0
    assert sorted(body["n"] for body in gate.bodies if body) == [1, 2]


def test_sighup_loads_the_pipelines_again_and_refuses_a_set_that_is_invalid(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    def version(path: str) -> str:
        return pipeline("orders", f'  - id: send\n    rest: {{url: "{gate.url}/{path}"}}\n')

    folder = write(tmp_path / "pipelines", orders=version("v1"))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        producer.wait(producer.send("orders", {}))
        write(folder, orders=version("v2"))
        worker.signal(signal.SIGHUP)
        worker.wait_for("^SIGHUP: reloaded 1 pipeline: 1 webhook, 0 schedules$")
        producer.wait(producer.send("orders", {}))
        (folder / "orders.yaml").write_text("version: 1\nname: orders\n", encoding="utf-8")
        worker.signal(signal.SIGHUP)
        worker.wait_for(
            r"^error: SIGHUP: reload refused \(\d+ problems?\); the pipelines loaded "
            "before keep running$"
        )
        producer.wait(producer.send("orders", {}))
        assert worker.get("/healthz").status == 200
        assert worker.terminate() == 0
    assert [gate.hits[f"GET /{v}"] for v in ("v1", "v2")] == [1, 2]
