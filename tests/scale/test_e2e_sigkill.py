"""A worker killed with SIGKILL mid-run, end to end: another worker resumes the run.

``hookline serve`` (distributed) takes a delivery; the one worker running takes it and is
killed (SIGKILL: nothing of it runs afterwards) while the run's second step waits on the
REST server. A second worker, started after the kill, gets the delivery again (the
broker's redelivery or the leader's re-publish once the lease ran out) and resumes the run
from its checkpoints in PostgreSQL, under the same run id: the finished first step is not
sent again; the step under way is sent again when that is safe (a PUT), and the
delivery waits for a person when it is not (a POST).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import hookline_cli, run_statuses, wait_until
from procs import Procs

from servers.rest_app import RestServer

PIPELINE = """version: 1
name: {name}
trigger:
  webhook:
    path: /hooks/{name}
    signature: {{secret: "${{{{ secrets.HOOK_SECRET }}}}"}}
secrets: [HOOK_SECRET]
env:
  API: {{description: the REST server}}
connections:
  api:
    rest: {{base_url: "${{{{ env.API }}}}"}}
steps:
  - id: create
    rest: {{connection: api, method: POST, path: /echo, json: {{n: 1}}}}
  - id: push
    rest: {{connection: api, method: {method}, path: /slow, params: {{seconds: "10"}}}}
output: done
"""

UNSAFE = (
    "step 'push' had started when the run was cut short and may have reached the "
    "server; 'push' sends a POST, which is not safe to send twice: a person must "
    "check whether it took effect before the run is started again"
)


@pytest.fixture
def api() -> Iterator[RestServer]:
    server = RestServer().start()
    try:
        yield server
    finally:
        server.stop()


def kill_mid_run(
    tmp_path: Path, api: RestServer, pg_url: str, redis_url: str, method: str
) -> dict[str, Any]:
    """Serve one delivery, SIGKILL the worker inside step 'push', let a second worker
    finish it; the run as ``hookline runs show`` gives it."""
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "p.yaml").write_text(PIPELINE.format(name="p", method=method), encoding="utf-8")
    env = {
        "API": api.url,
        "HOOKLINE_BROKER_URL": redis_url,
        "HOOKLINE_DATABASE_URL": pg_url,
        # The dead worker's run is taken over this long after its last renewal (60 s by
        # default); long enough that a loaded machine's late renewal is no takeover.
        "HOOKLINE_LEASE_SECONDS": "4",
    }
    cli_env = {**os.environ, **env}
    with Procs(tmp_path, env=env) as procs:
        serve = procs.serve(pipelines)
        first = procs.worker(pipelines)
        answer = serve.post("/hooks/p", {"k": 1})
        assert answer.status == 202, answer.body
        run_id = answer.json()["run_id"]
        wait_until(lambda: bool(api.requests_to("/slow")), what="the run to reach step 'push'")
        first.kill()
        second = procs.worker(pipelines)

        def shown() -> dict[str, Any]:
            out = hookline_cli(
                "runs", "show", run_id, "--database", pg_url, "--format", "json", env=cli_env
            ).stdout
            return dict(json.loads(out))

        wait_until(  # polled in the table; the CLI is asked once at the end
            lambda: run_statuses(pg_url).get(run_id) not in (None, "running", "queued"),
            what="the run to end on the second worker",
            timeout=120,
        )
        assert second.terminate() == 0
        assert serve.terminate() == 0
    return shown()


def test_a_safe_step_under_way_is_sent_again_and_the_run_succeeds(
    tmp_path: Path, api: RestServer, pg_url: str, redis_url: str
) -> None:
    run = kill_mid_run(tmp_path, api, pg_url, redis_url, "PUT")
    assert (run["status"], run["error"], run["output"]) == ("succeeded", None, "done")
    assert len(api.requests_to("/echo")) == 1  # the finished POST is not sent again
    assert len(api.requests_to("/slow")) == 2  # the PUT under way is: it is safe
    assert [s["step_id"] for s in run["steps"]] == ["create", "push"]


def test_an_unsafe_step_under_way_waits_for_a_person(
    tmp_path: Path, api: RestServer, pg_url: str, redis_url: str
) -> None:
    run = kill_mid_run(tmp_path, api, pg_url, redis_url, "POST")
    assert (run["status"], run["error"]) == ("needs-attention", UNSAFE)
    assert len(api.requests_to("/echo")) == 1
    assert len(api.requests_to("/slow")) == 1  # not sent again
