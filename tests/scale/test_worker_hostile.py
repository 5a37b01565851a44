"""Hostile messages on the broker: anyone who can write to it can send ``hookline.run``
anything. Each such message gets one clean ``bad_message`` line and is acknowledged;
none reaches the database, none comes back, and real work goes on."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Procs
from worker_support import Producer, pipeline, write

# What each message carries, and the line the worker says of it (nothing of the value).
HOSTILE = [
    (["abc\x00def"], "a text of 7 characters"),
    (["\ud800x"], "a text of 2 characters"),
    (["a" * 31 + "\x00"], "a text of 32 characters"),
    (["ABCDEF0123456789ABCDEF0123456789"], "a text of 32 characters"),
    (["x" * 200_000], "a text of 200000 characters"),
    (["x'; DROP TABLE deliveries; --"], "a text of 29 characters"),
    (["id\nerror: a forged log line"], "a text of 27 characters"),
    ([[1, 2]], "a value of type list"),
    ([7], "a value of type int"),
    ([], "no argument"),
    (["a", "b"], "2 arguments"),
]


@pytest.fixture
def urls(redis_url: str, pg_url: str) -> dict[str, str]:
    return {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}


@pytest.fixture
def producer(urls: dict[str, str]) -> Iterator[Producer]:
    with Producer(urls["HOOKLINE_DATABASE_URL"], urls["HOOKLINE_BROKER_URL"]) as made:
        yield made


def broker_holds(redis_url: str) -> tuple[int, int]:
    """Messages waiting in hookline's queue, and messages taken but not acknowledged."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen("hookline")), int(client.hlen("unacked"))
    finally:
        client.close()


def wait_broker_empty(redis_url: str, timeout: float = 30.0) -> None:
    """Until every message was taken and acknowledged (a task acknowledges just after
    its delivery's row shows it done)."""
    deadline = time.monotonic() + timeout
    while (held := broker_holds(redis_url)) != (0, 0):
        assert time.monotonic() < deadline, f"the broker still holds {held}"
        time.sleep(0.1)


def test_hostile_messages_are_refused_in_one_line_each_and_real_work_goes_on(
    tmp_path: Path, urls: dict[str, str], producer: Producer
) -> None:
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", "  - id: a\n    set: 1\n"))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder, "--concurrency", "2")
        for args, _ in HOSTILE:
            producer.app.send_task("hookline.run", args=args, queue="hookline", retry=False)
        producer.app.send_task(
            "hookline.run", kwargs={"delivery_id": "0" * 32}, queue="hookline", retry=False
        )
        deadline = time.monotonic() + 30
        while worker.output.count("ignored") < len(HOSTILE) + 1:
            assert time.monotonic() < deadline, worker.output
            time.sleep(0.1)
        run_id = producer.send("orders", {"n": 1})
        assert producer.wait(run_id, timeout=30)["status"] == "done"
        wait_broker_empty(urls["HOOKLINE_BROKER_URL"])
        time.sleep(1)  # nothing comes back
        assert worker.terminate() == 0
    refused = re.findall(r"^warning: (a message for hookline\.run .*)$", worker.output, re.M)
    expected = [
        f"a message for hookline.run with {what}, not a delivery id (32 lowercase "
        "hexadecimal digits): ignored"
        for _, what in [*HOSTILE, (None, "keyword arguments (1)")]
    ]
    assert sorted(refused) == sorted(expected)
    assert "cannot claim" not in worker.output
    assert "celery:" not in worker.output
    assert "Traceback" not in worker.output
    assert "DROP TABLE" not in worker.output
    assert "forged" not in worker.output


def test_a_well_formed_id_of_no_delivery_runs_nothing_and_says_nothing(
    tmp_path: Path, urls: dict[str, str], producer: Producer
) -> None:
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", "  - id: a\n    set: 1\n"))
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        producer.publish("0123456789abcdef" * 2)
        run_id = producer.send("orders")
        assert producer.wait(run_id, timeout=30)["status"] == "done"
        wait_broker_empty(urls["HOOKLINE_BROKER_URL"])
        assert worker.terminate() == 0
    assert "warning" not in worker.output
    assert "error" not in worker.output


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def test_a_claim_that_fails_for_a_reason_other_than_an_outage_is_said_once_not_requeued(
    tmp_path: Path, urls: dict[str, str], producer: Producer
) -> None:
    # A real error of the database that is no outage: the worker's role may not update
    # the deliveries. Requeued, the message would fail the same way for ever.
    role = "hl_w_" + uuid.uuid4().hex[:8]
    owner_url = urls["HOOKLINE_DATABASE_URL"]
    _sql(
        owner_url,
        f"CREATE ROLE {role} LOGIN",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE ON deliveries FROM {role}",
    )
    folder = write(tmp_path / "pipelines", orders=pipeline("orders", "  - id: a\n    set: 1\n"))
    env = {**urls, "HOOKLINE_DATABASE_URL": owner_url.replace("postgres@", f"{role}@", 1)}
    try:
        with Procs(tmp_path, env=env) as procs:
            worker = procs.worker(folder)
            run_id = producer.send("orders")
            line = (
                f"^error: delivery {run_id}: cannot claim it: permission denied for table "
                r"deliveries; its message is dropped \(this is said once for this delivery\)$"
            )
            worker.wait_for(line)
            producer.publish(run_id)  # the dispatcher publishes it again: said once
            wait_broker_empty(urls["HOOKLINE_BROKER_URL"])
            time.sleep(1)
            assert broker_holds(urls["HOOKLINE_BROKER_URL"]) == (0, 0)
            assert producer.row(run_id)["status"] == "queued"
            assert worker.terminate() == 0
        assert worker.output.count("cannot claim it") == 1
        assert "Traceback" not in worker.output
    finally:
        _sql(owner_url, f"DROP OWNED BY {role}")
        _sql(owner_url, f"DROP ROLE {role}")
