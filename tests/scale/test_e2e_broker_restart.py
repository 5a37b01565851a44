"""The broker restarted under load: every acknowledged delivery ends done, none runs twice.

``hookline serve`` (distributed) and two workers share a broker, a Redis of this test's
own, while deliveries arrive at a steady rate. Mid-way the broker stops (losing every
message it held: it keeps nothing on disk, as a broker that crashed would) and starts
again a second later on the same port. Deliveries keep being acknowledged meanwhile
(they are committed in PostgreSQL; the publish that fails is made again by the leader),
and afterwards the REST server has received each delivery's request exactly once.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dbservers import RedisServer
from e2e_support import hookline_cli, run_statuses, wait_until
from procs import Procs

from servers.rest_app import RestServer

PIPELINE = """version: 1
name: orders
concurrency: 4
trigger:
  webhook:
    path: /hooks/orders
    signature: {secret: "${{ secrets.HOOK_SECRET }}"}
    delivery_header: X-Delivery
secrets: [HOOK_SECRET]
env:
  API: {description: the REST server}
connections:
  api:
    rest: {base_url: "${{ env.API }}"}
steps:
  - id: send
    rest:
      connection: api
      method: POST
      path: /echo
      json: {n: "${{ input.n }}"}
output: "${{ input.n }}"
"""

DELIVERIES = 80
RATE = 20.0  # per second: the broker goes down about one second in, for one second


@pytest.fixture
def api() -> Iterator[RestServer]:
    server = RestServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_every_acknowledged_delivery_runs_once_across_a_broker_restart(
    tmp_path: Path,
    api: RestServer,
    pg_url: str,
    redis_url: str,
    make_redis: Callable[[], RedisServer],
) -> None:
    broker = make_redis()
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "orders.yaml").write_text(PIPELINE, encoding="utf-8")
    env = {
        "API": api.url,
        "HOOKLINE_BROKER_URL": broker.url,
        "HOOKLINE_DATABASE_URL": pg_url,
        "HOOKLINE_REDIS_URL": redis_url,  # coordination stays up: only the broker restarts
        # Messages the restart lost are published again after this long (default 120 s).
        "HOOKLINE_REPUBLISH_SECONDS": "3",
    }
    answers: dict[int, tuple[int, str | None]] = {}
    cli_env = {**os.environ, **env}

    def runs() -> list[dict[str, object]]:
        out = hookline_cli(
            "runs", "--database", pg_url, "--format", "json", "--limit", "1000", env=cli_env
        ).stdout
        return json.loads(out) if out.strip().startswith("[") else []

    with Procs(tmp_path, env=env) as procs:
        serve = procs.serve(pipelines)
        workers = [procs.worker(pipelines, "--concurrency", "2") for _ in range(2)]

        failures: list[BaseException] = []

        def send() -> None:
            try:
                began = time.monotonic()
                for n in range(DELIVERIES):
                    time.sleep(max(0.0, began + n / RATE - time.monotonic()))
                    answer = serve.post("/hooks/orders", {"n": n}, headers={"X-Delivery": f"d{n}"})
                    run_id = answer.json().get("run_id") if answer.status < 300 else None
                    answers[n] = (answer.status, run_id)
            except BaseException as exc:  # said by the test, not as a thread's traceback
                failures.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_until(lambda: len(answers) >= RATE, what="the first second of deliveries")
        broker.stop()
        time.sleep(1.0)
        broker.start()
        sender.join(120)
        assert not sender.is_alive(), "the deliveries were still being sent after 120 s"
        assert failures == []
        assert len(answers) == DELIVERIES
        # Committed in PostgreSQL, so acknowledged even while the broker was down.
        assert Counter(status for status, _ in answers.values()) == {202: DELIVERIES}

        def all_done() -> bool:  # polled in the table; the CLI is asked once at the end
            return list(run_statuses(pg_url).values()).count("succeeded") >= DELIVERIES

        wait_until(all_done, what="every delivery to run", timeout=300)
        # The restart was felt: publishes failed while the broker was down (or messages
        # it held were lost), and the leader published those deliveries again.
        again = re.findall(
            r'^hookline_dispatched_total\{reason="(?:unpublished|republish)"\} (\S+)$',
            serve.metrics(),
            re.M,
        )
        assert sum(float(n) for n in again) > 0
        for worker in workers:
            assert worker.terminate() == 0
        assert serve.terminate() == 0
    recorded = runs()
    assert sorted(str(r["id"]) for r in recorded) == sorted(str(a[1]) for a in answers.values())
    assert {r["status"] for r in recorded} == {"succeeded"}
    sent = Counter(r.json["n"] for r in api.requests if r.path == "/echo")
    assert sent == Counter(range(DELIVERIES)), "a delivery was sent twice, or never"
