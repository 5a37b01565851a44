"""``hookline worker`` runs what is queued: each delivery once, recorded in PostgreSQL,
the work shared by several worker processes; duplicate messages run nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Procs
from worker_support import Producer, pipeline, write

from servers.gate_server import GateServer


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def urls(redis_url: str, pg_url: str) -> dict[str, str]:
    return {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}


@pytest.fixture
def producer(urls: dict[str, str]) -> Iterator[Producer]:
    with Producer(urls["HOOKLINE_DATABASE_URL"], urls["HOOKLINE_BROKER_URL"]) as made:
        yield made


def metric(text: str, name: str) -> float:
    """The value of one series (``name`` with its labels, as Prometheus prints it)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


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
        metrics = worker.metrics()
        assert metric(metrics, 'hookline_runs_total{pipeline="orders",status="succeeded"}') == 1
        assert metric(metrics, "hookline_runs_in_flight") == 0
        assert metric(metrics, "hookline_queue_depth") == 0
        assert worker.terminate() == 0
    # One line says the worker works, and nothing of Celery's banner.
    assert "working on 1 pipeline: 1 webhook, 0 schedules; 4 runs at once" in worker.output
    assert "celery@" not in worker.output and "[tasks]" not in worker.output
