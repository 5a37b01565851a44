"""One pipeline set, run in the embedded mode and in the distributed mode: the same results.

The same directory of pipelines (a webhook that calls a REST server and saves state, a
sync webhook, one whose run fails) is served by ``hookline serve`` alone (SQLite), then by
``hookline serve --broker --database`` with one ``hookline worker``, against the same
REST server. The same deliveries are posted to each; what a user reads afterwards
(``hookline runs`` and ``runs show`` as JSON, ``hookline state show``, the sync answers,
the requests the REST server received) must be the same, once the values that differ
from run to run by nature (run ids, times, durations, process ids) are set aside.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import hookline_cli, wait_until
from procs import Proc, Procs

from servers.rest_app import RestServer

ORDERS = """version: 1
name: orders
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
      json: {order: "${{ input.order }}", total: "${{ input.total }}"}
    extract: {sent: body.json}
save_state:
  last_order: "${{ input.order }}"
  count: "${{ sum([state.count || `0`, `1`]) }}"
output: "${{ steps.send.sent }}"
"""

QUOTE = """version: 1
name: quote
trigger:
  webhook:
    path: /hooks/quote
    signature: {secret: "${{ secrets.HOOK_SECRET }}"}
    reply: sync
    timeout: 30s
secrets: [HOOK_SECRET]
env:
  API: {description: the REST server}
connections:
  api:
    rest: {base_url: "${{ env.API }}"}
steps:
  - id: ask
    rest:
      connection: api
      method: GET
      path: /echo
      params: {sku: "${{ input.sku }}"}
    extract: {sku: "body.query.sku[0]"}
  - id: price
    set: {sku: "${{ steps.ask.sku }}", price: "${{ input.qty }}"}
output: "${{ steps.price }}"
"""

BROKEN = """version: 1
name: broken
trigger:
  webhook:
    path: /hooks/broken
    signature: {secret: "${{ secrets.HOOK_SECRET }}"}
secrets: [HOOK_SECRET]
env:
  API: {description: the REST server}
connections:
  api:
    rest: {base_url: "${{ env.API }}"}
steps:
  - id: call
    rest: {connection: api, method: GET, path: /status/422}
output: done
"""

#: What differs between two runs of the same delivery by nature: ids, times, processes.
RUN_VARIES = ("id", "started_at", "finished_at", "duration_ms", "pid", "host", "heartbeat_at")
RECORD_VARIES = ("run_id", "duration_ms")


def normalized_run(run: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in run.items() if k not in RUN_VARIES}
    for table in ("steps", "attempts", "iterations"):
        if table in out:
            out[table] = [_record(r) for r in out[table]]
    return out


def _record(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k not in RECORD_VARIES}
    response = out.get("response")
    if isinstance(response, dict) and isinstance(response.get("headers"), dict):
        headers = {k: v for k, v in response["headers"].items() if k.lower() != "date"}
        out["response"] = {**response, "headers": headers}
    return out


def normalized_state(state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k not in ("updated_at", "updated_by")}
    out["changes"] = [
        {k: v for k, v in change.items() if k not in ("by", "at")} for change in state["changes"]
    ]
    return out


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    server = RestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    directory = tmp_path / "pipelines"
    directory.mkdir()
    for name, text in (("orders", ORDERS), ("quote", QUOTE), ("broken", BROKEN)):
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


def deliver(serve: Proc, db: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Post the same deliveries, one at a time, each run before the next is sent (so the
    state's order is the same in both modes); return what a user reads afterwards."""
    answers: list[Any] = []
    for n in range(1, 4):
        answer = serve.post(
            "/hooks/orders", {"order": f"o-{n}", "total": n * 10}, headers={"X-Delivery": f"d-{n}"}
        )
        assert answer.status == 202, answer.body
        wait_until(lambda n=n: finished(db, env) >= n, what=f"order {n} to run", every=0.5)
        answers.append(answer.status)
    again = serve.post(
        "/hooks/orders", {"order": "o-1", "total": 10}, headers={"X-Delivery": "d-1"}
    )
    answers.append((again.status, again.json().get("duplicate")))
    quote = serve.post("/hooks/quote", {"sku": "A-7", "qty": 3})
    answers.append((quote.status, quote.json()))
    broken = serve.post("/hooks/broken", {"x": 1})
    answers.append(broken.status)
    wait_until(lambda: finished(db, env) >= 5, what="every run to end", every=0.5)
    listed = json.loads(hookline_cli("runs", *db, "--format", "json", env=env).stdout)
    shown = [
        json.loads(hookline_cli("runs", "show", r["id"], *db, "--format", "json", env=env).stdout)
        for r in sorted(listed, key=lambda r: r["started_at"])
    ]
    state = json.loads(hookline_cli("state", "show", "orders", *db, env=env).stdout)
    return {
        "answers": answers,
        "runs": [normalized_run(r) for r in sorted(listed, key=lambda r: r["started_at"])],
        "shown": [normalized_run(r) for r in shown],
        "state": normalized_state(state),
    }


def finished(db: list[str], env: dict[str, str]) -> int:
    out = hookline_cli("runs", *db, "--format", "json", env=env, check=False).stdout
    runs = json.loads(out) if out.strip().startswith("[") else []
    return sum(1 for r in runs if r["status"] not in ("running", "queued"))


def test_the_same_pipelines_give_the_same_results_in_both_modes(
    tmp_path: Path, pipelines: Path, api: RestServer, pg_url: str, redis_url: str
) -> None:
    api.reset()
    home = tmp_path / "embedded-home"
    embedded_env = {"API": api.url, "HOOKLINE_HOME": str(home)}
    with Procs(tmp_path / "embedded") as procs:
        serve = procs.serve(pipelines, env=embedded_env)
        embedded = deliver(serve, [], {**os.environ, **embedded_env})
        assert serve.terminate() == 0
    embedded_requests = [(r.method, r.path, r.query, r.json) for r in api.requests]

    api.reset()
    scale_env = {
        "API": api.url,
        "HOOKLINE_BROKER_URL": redis_url,
        "HOOKLINE_DATABASE_URL": pg_url,
    }
    with Procs(tmp_path / "distributed", env=scale_env) as procs:
        serve = procs.serve(pipelines)
        worker = procs.worker(pipelines)
        distributed = deliver(serve, ["--database", pg_url], {**os.environ, **scale_env})
        assert worker.terminate() == 0
        assert serve.terminate() == 0
    distributed_requests = [(r.method, r.path, r.query, r.json) for r in api.requests]

    assert distributed == embedded
    assert distributed_requests == embedded_requests
    # What the runs did, in plain words, so that "the same" is not "the same nothing".
    statuses = [r["status"] for r in embedded["runs"]]
    assert statuses == ["succeeded", "succeeded", "succeeded", "succeeded", "dead"]
    assert embedded["state"]["state"] == {"last_order": "o-3", "count": 3}
    assert embedded["answers"][3] == (200, True)
    assert embedded["answers"][4] == (200, {"sku": "A-7", "price": 3})
    assert embedded["shown"][4]["error"].startswith("step 'call' failed: GET ")
