"""A worker that stops: SIGTERM lets a short run finish, hands a long one back to another
worker; SIGKILL mid-run has the run delivered again and resumed from its checkpoints (the
steps that finished are not sent again)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Procs
from worker_support import Producer, pipeline, write

from servers.gate_server import GateServer

# Short leases, so that a dead worker's delivery is taken over within seconds; not so
# short that a late renewal on a loaded two-core machine (renewed every third of the
# lease) is a takeover.
LEASE = {"HOOKLINE_LEASE_SECONDS": "5"}


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def urls(redis_url: str, pg_url: str) -> dict[str, str]:
    return {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url, **LEASE}


@pytest.fixture
def producer(urls: dict[str, str]) -> Iterator[Producer]:
    with Producer(urls["HOOKLINE_DATABASE_URL"], urls["HOOKLINE_BROKER_URL"]) as made:
        yield made


def two_steps(folder: Path, gate: GateServer) -> Path:
    """A POST that finishes, then a GET held at the gate ``hold`` until the test opens it."""
    steps = f"""\
  - id: create
    rest: {{url: "{gate.url}/create", method: POST, json: {{n: 1}}}}
  - id: wait
    rest: {{url: "{gate.url}/gate/hold"}}
"""
    return write(folder, orders=pipeline("orders", steps))


def wait_hits(
    gate: GateServer,
    key: str,
    count: int,
    *,
    dispatcher: Producer | None = None,
    timeout: float = 60.0,
) -> None:
    """Until ``count`` requests ``key`` reached the gate; with ``dispatcher``, the test
    plays the leader's dispatcher meanwhile (a round a second, as it does)."""
    deadline = time.monotonic() + timeout
    last = 0.0
    while gate.hits[key] < count:
        assert time.monotonic() < deadline, f"{key}: {gate.hits[key]} requests, not {count}"
        if dispatcher is not None and time.monotonic() - last >= 1.0:
            last = time.monotonic()
            dispatcher.dispatch()
        time.sleep(0.02)


def step_statuses(producer: Producer, run_id: str) -> list[tuple[str, str]]:
    """The step records of a run in the PostgreSQL history, in order."""
    rows = producer.sql(
        "SELECT step_id, status FROM run_records WHERE run_id = %s AND kind = 1 ORDER BY seq",
        run_id,
    )
    return [(step, status) for step, status in rows]


def test_a_worker_killed_mid_run_has_it_delivered_again_and_resumed(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    folder = two_steps(tmp_path / "pipelines", gate)
    with Procs(tmp_path, env=urls) as procs:
        first = procs.worker(folder)
        run_id = producer.send("orders", {"n": 1})
        assert gate.arrived("hold", 60)
        first.kill()  # mid-run: 'create' finished, 'wait' under way
        assert producer.row(run_id)["status"] == "running"
        second = procs.worker(folder)
        # The row is published again once the dead worker's lease expired, and the
        # second worker takes it over.
        wait_hits(gate, "GET /gate/hold", 2, dispatcher=producer)
        gate.open("hold")
        row = producer.wait(run_id)
        # The outcome recorded, the count of takeovers in a row starts again.
        assert (row["status"], row["error"], row["takeovers"]) == ("done", None, 0)
        metrics = second.metrics()
        assert "hookline_lease_takeovers_total 1.0" in metrics
        assert "hookline_redeliveries_total 1.0" in metrics
        assert second.terminate() == 0
    assert gate.hits["POST /create"] == 1  # the step that finished is not sent again
    assert gate.hits["GET /gate/hold"] == 2  # the GET under way is: it is safe
    (status,) = producer.sql("SELECT status FROM runs WHERE id = %s", run_id)[0]
    assert status == "succeeded"
    assert step_statuses(producer, run_id)[-2:] == [
        ("create", "reused (finished before the restart)"),
        ("wait", "ok"),
    ]


def test_sigterm_lets_a_short_run_finish_then_exits_0(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    folder = two_steps(tmp_path / "pipelines", gate)
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder, "--grace", "30")
        run_id = producer.send("orders", {"n": 1})
        assert gate.arrived("hold", 60)
        worker.signal(15)
        worker.wait_for("SIGTERM: stopping; runs under way get 30s to finish")
        assert worker.get("/healthz").status == 503  # no new work for a stopping worker
        gate.open("hold")
        assert worker.wait() == 0
        assert producer.row(run_id)["status"] == "done"
    assert gate.hits["POST /create"] == 1
    assert gate.hits["GET /gate/hold"] == 1
    assert "stopped and handed back" not in worker.output


def test_sigterm_hands_a_run_past_its_grace_back_and_another_worker_finishes_it(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    folder = two_steps(tmp_path / "pipelines", gate)
    with Procs(tmp_path, env=urls) as procs:
        first = procs.worker(folder, "--grace", "1")
        run_id = producer.send("orders", {"n": 1})
        assert gate.arrived("hold", 60)
        assert first.terminate() == 0  # past --grace, the run is handed back
        row = producer.row(run_id)
        assert (row["status"], row["lease_owner"], row["resume_run"]) == (
            "queued",
            None,
            run_id,
        )
        second = procs.worker(folder)
        wait_hits(gate, "GET /gate/hold", 2)
        gate.open("hold")
        row = producer.wait(run_id)
        assert (row["status"], row["attempts"]) == ("done", 1)
        assert second.terminate() == 0
    assert "1 run not finished within 1s: stopped and handed back" in first.output
    # The run waited on a request that did not end: it was handed back as it was.
    assert "1 run did not stop within 5s (a request under way)" in first.output
    assert gate.hits["POST /create"] == 1  # resumed from its checkpoints
    (status,) = producer.sql("SELECT status FROM runs WHERE id = %s", run_id)[0]
    assert status == "succeeded"


def test_a_run_stopped_between_two_attempts_goes_back_to_the_broker_at_once(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    # The second step waits 30 s between its attempts: SIGTERM's cancel wakes it, the run
    # ends interrupted, and its message is requeued on the broker. No dispatcher runs in
    # this test: the second worker gets the message from the broker itself.
    steps = f"""\
  - id: create
    rest: {{url: "{gate.url}/create", method: POST, json: {{n: 1}}}}
  - id: busy
    rest: {{url: "{gate.url}/busy"}}
    retry: {{attempts: 5, initial_delay: 30s, max_delay: 30s, multiplier: 1}}
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    gate.answers["/busy"] = (503, {"error": "busy"})
    with Procs(tmp_path, env=urls) as procs:
        first = procs.worker(folder, "--grace", "1")
        run_id = producer.send("orders", {"n": 1})
        wait_hits(gate, "GET /busy", 1)
        assert first.terminate() == 0
        row = producer.row(run_id)
        assert (row["status"], row["resume_run"]) == ("queued", run_id)
        gate.answers["/busy"] = {"ok": True}
        second = procs.worker(folder)
        row = producer.wait(run_id)
        assert (row["status"], row["attempts"]) == ("done", 1)
        assert second.terminate() == 0
    assert "1 run not finished within 1s: stopped and handed back" in first.output
    assert "did not stop within" not in first.output
    assert gate.hits["POST /create"] == 1
    assert gate.hits["GET /busy"] == 2


def test_a_run_that_ended_before_its_worker_died_is_recorded_not_run_again(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    steps = f"""\
  - id: charge
    rest: {{url: "{gate.url}/charge", method: POST, json: {{}}}}
output: "${{{{ steps.charge.body }}}}"
"""
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", steps))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        run_id = producer.send("orders", {})
        assert producer.wait(run_id)["status"] == "done"
        # What a worker that died between its run's final record and its delivery's
        # outcome leaves behind: the delivery running under a lease that expired.
        producer.sql(
            "UPDATE deliveries SET status = 'running', lease_owner = 'gone:1:x',"
            " lease_until = now() - interval '1 second', finished_at = NULL,"
            " run_status = NULL, output = NULL WHERE id = %s RETURNING id",
            run_id,
        )
        producer.publish(run_id)
        row = producer.wait(run_id)
        assert (row["status"], row["run_status"], row["takeovers"]) == ("done", "succeeded", 0)
        assert row["output"] == {"method": "POST", "path": "/charge"}
        assert "hookline_lease_takeovers_total 1.0" in worker.metrics()
        assert worker.terminate() == 0
    assert gate.hits["POST /charge"] == 1  # the run ended: its POST is not sent again


def test_a_worker_paused_past_its_lease_leaves_the_run_to_the_one_that_took_it_over(
    tmp_path: Path, urls: dict[str, str], producer: Producer, gate: GateServer
) -> None:
    folder = two_steps(tmp_path / "pipelines", gate)
    with Procs(tmp_path, env=urls) as procs:
        slow = procs.worker(folder)
        run_id = producer.send("orders", {"n": 1})
        assert gate.arrived("hold", 60)
        slow.signal(signal.SIGSTOP)  # a machine frozen, a long pause: its lease runs out
        try:
            fresh = procs.worker(folder)
            wait_hits(gate, "GET /gate/hold", 2, dispatcher=producer)
            gate.open("hold")  # both get their answer; the paused one reads it later
            row = producer.wait(run_id)
            assert (row["status"], row["takeovers"]) == ("done", 0)
            assert "hookline_lease_takeovers_total 1.0" in fresh.metrics()
            recorded = producer.sql("SELECT * FROM runs WHERE id = %s", run_id)
        finally:
            slow.signal(signal.SIGCONT)
        # Whichever it sees first: its lease not renewed for a whole lease, or taken.
        slow.wait_for(
            "another worker took this delivery over|could not renew its lease on the delivery"
        )
        # The paused worker ran its run to the end, and wrote nothing over what the
        # worker that took the delivery over recorded.
        assert producer.sql("SELECT * FROM runs WHERE id = %s", run_id) == recorded
        assert producer.row(run_id)["status"] == "done"
        assert slow.terminate() == 0
        assert fresh.terminate() == 0
    assert gate.hits["POST /create"] == 1
