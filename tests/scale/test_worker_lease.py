"""A worker cut off from PostgreSQL cannot renew its lease, so after one lease it no
longer knows whether another worker took the delivery over: it stops the run (no more
requests, no more retries) and records nothing; the next claim resumes the run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbservers import PgServer
from procs import Procs
from worker_support import Producer, pipeline, write

from servers.gate_server import GateServer

LEASE = 3


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_a_run_whose_lease_cannot_be_renewed_is_stopped_after_one_lease(
    tmp_path: Path, redis_url: str, make_pg: Callable[[], PgServer], gate: GateServer
) -> None:
    pg = make_pg()
    urls = {
        "HOOKLINE_BROKER_URL": redis_url,
        "HOOKLINE_DATABASE_URL": pg.url,
        "HOOKLINE_LEASE_SECONDS": str(LEASE),
    }
    # A safe request retried while the API answers 503: without a stop, the worker would
    # go on sending it however long it is cut off from the database.
    steps = f"""\
  - id: poll
    rest: {{url: "{gate.url}/flaky"}}
    retry: {{attempts: 100, initial_delay: 0.2s, multiplier: 1, on_status: [503]}}
output: "${{{{ steps.poll.body }}}}"
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    busy = [True]

    def flaky(method: str, path: str) -> Any:
        return (503, {"busy": True}) if busy[0] else {"ok": True}

    gate.answers["/flaky"] = flaky
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        with Producer(pg.url, redis_url) as producer:
            run_id = producer.send("orders")
            deadline = time.monotonic() + 30
            while gate.hits["GET /flaky"] < 3:
                assert time.monotonic() < deadline, worker.output
                time.sleep(0.05)
        pg.stop()
        worker.wait_for(
            rf"^warning: run {run_id} of 'orders': stopped: this worker could not renew its "
            rf"lease on the delivery for {LEASE}s \(the database out of reach, or the worker "
            r"paused\), so another worker may take it over; that worker resumes it from its "
            r"checkpoints and records its outcome$"
        )
        time.sleep(0.5)  # a request sent as it was stopped arrives
        sent = gate.hits["GET /flaky"]
        time.sleep(2)
        assert gate.hits["GET /flaky"] == sent  # no retry after the stop
        busy[0] = False
        pg.start()
        with Producer(pg.url, redis_url) as producer:
            row = producer.wait(run_id, dispatch=True)
            assert row["status"] == "done"
            assert row["output"] == {"ok": True}
            records = producer.sql("SELECT status FROM runs WHERE id = %s", run_id)
        assert records == [("succeeded",)]
        assert worker.terminate() == 0
    assert "Traceback" not in worker.output
    assert worker.output.count("could not renew its lease") == 1
