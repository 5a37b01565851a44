"""A run that ``hookline serve`` was killed in the middle of (SIGKILL) resumes at the next
start: the steps that finished are reused, not sent again; a step that had started is
sent again only when that is safe (a GET, or ``idempotent: true``); otherwise the delivery
waits in ``needs-attention`` with a message saying what a person must check."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from servers.rest_app import RestServer
from test_serve_intake_crash import Service, post


@pytest.fixture(scope="module")
def rest() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


@pytest.fixture
def server(rest: RestServer) -> RestServer:
    rest.reset()
    return rest


HEAD = """\
version: 1
name: crashy
trigger:
  webhook:
    path: /hooks/crashy
    delivery_header: Idempotency-Key
steps:
"""


def serve_and_kill_inside(tmp_path: Path, server: RestServer, steps: str, path: str) -> str:
    """Serve the pipeline, send one delivery, SIGKILL the service once the request to
    ``path`` reached the server; then start it again. The delivery's run id."""
    file = tmp_path / "pipelines" / "crashy.yaml"
    file.parent.mkdir(exist_ok=True)
    file.write_text(HEAD + steps.format(url=server.url), encoding="utf-8")
    service = Service(tmp_path)
    try:
        answer = post(service.port, "k1")
        assert answer is not None
        deadline = time.monotonic() + 30
        while not server.requests_to(path):
            assert time.monotonic() < deadline, "".join(service.lines)
            time.sleep(0.01)
    finally:
        service.kill()
    return str(answer["run_id"])


def settle(tmp_path: Path, run_id: str) -> tuple[str, str | None]:
    """Start the service again; the delivery's final status and error."""
    service = Service(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            with closing(sqlite3.connect(tmp_path / "home" / "hookline.db")) as con:
                status, error = con.execute(
                    "SELECT status, error FROM deliveries WHERE run_id = ?", (run_id,)
                ).fetchone()
            if status in ("done", "dead", "needs-attention"):
                return status, error
            assert time.monotonic() < deadline, (status, "".join(service.lines))
            time.sleep(0.05)
    finally:
        service.kill()


def run_record(tmp_path: Path, run_id: str) -> tuple[str, str | None]:
    with closing(sqlite3.connect(tmp_path / "home" / "hookline.db")) as con:
        return con.execute("SELECT status, error FROM runs WHERE id = ?", (run_id,)).fetchone()


def test_a_run_killed_between_steps_reuses_the_finished_ones(tmp_path, server):
    steps = """\
  - id: create
    rest: {{url: "{url}/echo", method: POST, json: {{n: 1}}}}
  - id: wait
    rest: {{url: "{url}/slow?seconds=0.5"}}
"""
    run_id = serve_and_kill_inside(tmp_path, server, steps, "/slow")
    status, error = settle(tmp_path, run_id)
    assert (status, error) == ("done", None)
    assert len(server.requests_to("/echo")) == 1  # the POST that finished is not sent again
    assert len(server.requests_to("/slow")) == 2  # the GET under way is: it is safe
    assert run_record(tmp_path, run_id) == ("succeeded", None)


def test_a_post_under_way_at_the_kill_asks_for_a_person(cli, tmp_path, server):
    steps = """\
  - id: charge
    rest: {{url: "{url}/slow?seconds=1", method: POST, json: {{amount: 5}}}}
"""
    run_id = serve_and_kill_inside(tmp_path, server, steps, "/slow")
    status, error = settle(tmp_path, run_id)
    message = (
        "step 'charge' had started when the run was cut short and may have reached the "
        "server; 'charge' sends a POST, which is not safe to send twice: a person must "
        "check whether it took effect before the run is started again"
    )
    assert (status, error) == ("needs-attention", message)
    assert len(server.requests_to("/slow")) == 1  # not sent again
    assert run_record(tmp_path, run_id) == ("needs-attention", message)
    listed = cli("runs", "--db", str(tmp_path / "home" / "hookline.db"))
    assert listed.code == 0
    (line,) = [line for line in listed.out.splitlines() if line.startswith(run_id[:12])]
    assert line.split()[1:3] == ["crashy", "needs-attention"]
    # stdout is not a terminal here: the list keeps the error whole (for grep)
    assert line.endswith(f"  {message.splitlines()[0]}")


def test_an_idempotent_post_under_way_at_the_kill_is_sent_again(tmp_path, server):
    steps = """\
  - id: upsert
    rest:
      url: "{url}/slow?seconds=0.5"
      method: POST
      json: {{id: 5}}
    retry: {{idempotent: true}}
"""
    run_id = serve_and_kill_inside(tmp_path, server, steps, "/slow")
    assert settle(tmp_path, run_id) == ("done", None)
    assert [json.loads(r.body) for r in server.requests_to("/slow")] == [{"id": 5}] * 2
