"""Sync replies of a real ``hookline serve``: the output, status and headers templates,
a failed run, and a run slower than the reply's timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from serve_support import SECRET, SIGNED, Serve, hook
from servers.rest_app import RestServer

LEAD = hook(
    "lead",
    "/hooks/lead",
    trigger_extra=SIGNED
    + """    reply: sync
    status: "${{ output.created && `201` || `200` }}"
    headers:
      Location: "/leads/${{ output.id }}"
      X-Run: "${{ run.id }}"
""",
    steps="""  - id: lead
    set: {id: "${{ input.email }}", created: "${{ input.new }}", token: "${{ secrets.HOOK_SECRET }}"}
""",
    output='"${{ steps.lead }}"',
)

FAILING = hook(
    "failing",
    "/hooks/failing",
    trigger_extra=SIGNED + "    reply: sync\n",
    steps='  - id: stop\n    fail: "no customer for ${{ input.email }}"\n',
)

BAD_STATUS = hook(
    "bad-status",
    "/hooks/bad-status",
    trigger_extra=SIGNED + '    reply: sync\n    status: "${{ output.code }}"\n',
)


def slow(url: str) -> str:
    return hook(
        "slow",
        "/hooks/slow",
        trigger_extra=SIGNED + "    reply: sync\n    timeout: 1s\n",
        steps="""  - id: wait
    rest: {connection: upstream, method: GET, path: "/slow?seconds=3"}
""",
        output='"${{ steps.wait.body }}"',
    ).replace(
        "steps:\n",
        f'connections:\n  upstream:\n    rest: {{base_url: "{url}"}}\nsteps:\n',
        1,
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, upstream: RestServer) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("serve-reply")
    pipelines = root / "pipelines"
    pipelines.mkdir()
    for name, text in {
        "lead.yaml": LEAD,
        "failing.yaml": FAILING,
        "bad.yaml": BAD_STATUS,
        "slow.yaml": slow(upstream.url),
    }.items():
        (pipelines / name).write_text(text)
    with Serve(pipelines, root / "home") as service:
        yield service
    assert SECRET not in service.stderr


def test_a_sync_reply_is_the_output_with_the_status_and_headers_of_the_templates(
    serve: Serve,
) -> None:
    answer = serve.post("/hooks/lead", {"email": "ada@example.com", "new": True})
    assert answer.status == 201
    assert answer.headers["location"] == "/leads/ada@example.com"
    assert len(answer.headers["x-run"]) == 32
    assert answer.headers["content-type"] == "application/json"
    # The output passes through the redactor like every sink: the secret is not in it.
    assert answer.json() == {"id": "ada@example.com", "created": True, "token": "***"}
    old = serve.post("/hooks/lead", {"email": "bob@example.com", "new": False})
    assert (old.status, old.headers["location"]) == (200, "/leads/bob@example.com")


def test_a_failed_run_is_500_without_its_error_text(serve: Serve) -> None:
    answer = serve.post("/hooks/failing", {"email": "x@example.com"})
    assert answer.status == 500
    body = answer.json()
    # Its last (here only) attempt failed: the delivery is dead, replayable by hand.
    assert body == {"run_id": body["run_id"], "status": "dead"}


def test_a_status_template_that_gives_no_status_is_500_and_logged(serve: Serve) -> None:
    answer = serve.post("/hooks/bad-status", {"code": "teapot"})
    assert answer.status == 500
    body = answer.json()
    assert body["error"] == 'the reply\'s status template gave "teapot", not 200-599'
    assert serve.wait_for(r"error: bad-status: the reply's status template gave", 5)


def test_a_run_slower_than_the_timeout_is_answered_202_with_its_run_id(
    serve: Serve, upstream: RestServer
) -> None:
    started = time.monotonic()
    answer = serve.post("/hooks/slow", {})
    waited = time.monotonic() - started
    assert answer.status == 202
    assert answer.json() == {"run_id": answer.json()["run_id"], "status": "running"}
    assert 1.0 <= waited < 3.0  # the reply's timeout, not the run's length
