"""A worker cut off from PostgreSQL cannot renew its lease, so after one lease it no
longer knows whether another worker took the delivery over: it stops the run (no more
requests, no more retries) and records nothing; the next claim resumes the run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbservers import PgServer
from procs import Procs
from worker_support import Producer, pipeline, quiet, wait_metric, write

from servers.gate_server import GateServer

# Short, so that a cut-off worker stops within seconds; not so short that a late renewal
# on a loaded two-core machine (renewed every third of it) is taken for a lost lease.
LEASE = 5


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
        sent = quiet(gate, "GET /flaky", for_=1.0, timeout=15)  # in-flight ones arrived
        time.sleep(2)  # ten retry periods (0.2 s): a retry would show
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


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def test_a_worker_cut_from_the_database_stops_its_run_and_another_takes_it_over(
    tmp_path: Path, redis_url: str, pg_url: str, gate: GateServer
) -> None:
    # The cut worker logs in under a role of its own, so that the database can shut it
    # out (a network split) while the other worker goes on working.
    role = "hl_cut_" + uuid.uuid4().hex[:8]
    steps = f"""\
  - id: poll
    rest: {{url: "{gate.url}/flaky"}}
    retry: {{attempts: 100, initial_delay: 0.2s, multiplier: 1, on_status: [503]}}
output: "${{{{ steps.poll.body }}}}"
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    busy = [True]
    gate.answers["/flaky"] = lambda method, path: (503, {}) if busy[0] else {"ok": True}
    urls = {
        "HOOKLINE_BROKER_URL": redis_url,
        "HOOKLINE_DATABASE_URL": pg_url,
        "HOOKLINE_LEASE_SECONDS": str(LEASE),
    }
    with Producer(pg_url, redis_url) as producer:
        _sql(
            pg_url,
            f"CREATE ROLE {role} LOGIN",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        )
        try:
            with Procs(tmp_path, env=urls) as procs:
                cut = procs.worker(
                    folder, env={"HOOKLINE_DATABASE_URL": pg_url.replace("postgres@", f"{role}@")}
                )
                run_id = producer.send("orders")
                deadline = time.monotonic() + 30
                while gate.hits["GET /flaky"] < 3:
                    assert time.monotonic() < deadline, cut.output
                    time.sleep(0.05)
                _sql(
                    pg_url,
                    f"ALTER ROLE {role} NOLOGIN",
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE usename = '{role}'",
                )
                cut.wait_for(rf"^warning: run {run_id} of 'orders': stopped: this worker could")
                sent = quiet(gate, "GET /flaky", for_=1.0, timeout=15)  # in-flight ones came
                time.sleep(1.5)  # several retry periods (0.2 s): a retry would show
                assert gate.hits["GET /flaky"] == sent  # the cut worker sends no more
                busy[0] = False
                other = procs.worker(folder)
                row = producer.wait(run_id, dispatch=True)  # the leader publishes it again
                assert (row["status"], row["output"]) == ("done", {"ok": True})
                assert gate.hits["GET /flaky"] == sent + 1  # the other worker's request
                wait_metric(other, "hookline_lease_takeovers_total", 1)
                assert producer.sql("SELECT status FROM runs WHERE id = %s", run_id) == [
                    ("succeeded",)
                ]
                # The split heals: the cut worker reaches the database again, and stops
                # (a task of its own may still wait for a connection: the pool's timeout).
                _sql(pg_url, f"ALTER ROLE {role} LOGIN")
                assert other.terminate() == 0
                assert cut.terminate(timeout=120) == 0
            assert "Traceback" not in cut.output
        finally:
            _sql(pg_url, f"DROP OWNED BY {role}")
            _sql(pg_url, f"DROP ROLE {role}")
