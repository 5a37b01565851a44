"""``hookline replay``: a dead delivery runs again with the input it arrived with (not the
history's redacted copy), here or queued for a running service; ``--all-dead``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from servers.rest_app import RestServer
from test_serve_workers import Pool

TOKEN = "tok_5Kq8ZrW2xYp9LmN3"

FLAKY = """\
version: 1
name: flaky
secrets: [API_TOKEN]
trigger:
  webhook:
    path: /hooks/flaky
    retry: {{attempts: 2, backoff: 0.05}}
steps:
  - id: send
    rest:
      url: "{url}/flaky/${{{{ input.id }}}}?fail=${{{{ input.fail }}}}&status=500"
      method: POST
      json: {{token: "${{{{ input.token }}}}"}}
output:
  attempt: "${{{{ steps.send.body.attempt }}}}"
"""


@pytest.fixture(scope="module")
def rest() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


@pytest.fixture
def server(rest: RestServer, monkeypatch: pytest.MonkeyPatch) -> RestServer:
    rest.reset()
    monkeypatch.setenv("API_TOKEN", TOKEN)
    return rest


def dead_delivery(tmp_path: Path, server: RestServer, *ids: str) -> tuple[Pool, list[str]]:
    """Deliveries of ``flaky`` that fail twice: dead after their two attempts."""
    pool = Pool(tmp_path, FLAKY.format(url=server.url))
    try:
        run_ids = [pool.submit("flaky", {"id": i, "fail": 2, "token": TOKEN}) for i in ids]
        for run_id in run_ids:
            pool.wait(run_id, "dead")
    finally:
        pool.stop()
    return pool, run_ids


def test_replay_runs_a_dead_delivery_again_with_its_own_input(cli, tmp_path, server):
    pool, (run_id,) = dead_delivery(tmp_path, server, "a")
    result = cli("replay", run_id[:10], "--db", str(pool.db))
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"attempt": 3}
    # The history's copy of the input is masked; the replay sent the real token.
    runs = pool.runs(run_id)
    with closing(sqlite3.connect(pool.db)) as con:
        kept = con.execute("SELECT input FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert json.loads(kept)["token"] == "***"
    assert [r.json for r in server.requests_to("/flaky/a")] == [{"token": TOKEN}] * 3
    assert [(a, s, t) for a, _, s, t in runs] == [
        (1, "failed", "webhook"),
        (2, "dead", "webhook"),
        (3, "succeeded", "replay"),
    ]
    assert f"run {run_id} replayed as run {runs[2][1]}" in result.err
    row = pool.delivery(run_id)
    assert (row["status"], row["error"], row["last_run"]) == ("done", None, runs[2][1])


def test_replay_all_dead_replays_each_dead_delivery_once(cli, tmp_path, server):
    pool, run_ids = dead_delivery(tmp_path, server, "b", "c")
    result = cli("replay", "--all-dead", "flaky", "--db", str(pool.db))
    assert result.code == 0, result.err
    assert result.out == ""
    assert result.err.splitlines()[-1] == (
        "replayed 2 dead deliveries of 'flaky': 2 succeeded, 0 failed"
    )
    assert [pool.delivery(r)["status"] for r in run_ids] == ["done", "done"]
    again = cli("replay", "--all-dead", "flaky", "--db", str(pool.db))
    assert (again.code, again.err) == (0, "no dead deliveries of 'flaky'\n")


def test_replay_queue_hands_the_delivery_back_to_the_service(cli, tmp_path, server):
    pool, (run_id,) = dead_delivery(tmp_path, server, "d")
    result = cli("replay", run_id, "--queue", "--db", str(pool.db))
    assert result.code == 0, result.err
    assert (
        result.err == f"run {run_id}: its delivery is queued again; the running service takes it\n"
    )
    row = pool.delivery(run_id)
    assert (row["status"], row["retry_base"], row["error"]) == ("queued", 2, None)
    pool.start()  # the service: a full retry budget again (it needs only one run)
    try:
        pool.wait(run_id, "done")
    finally:
        pool.stop()
    assert [(a, s, t) for a, _, s, t in pool.runs(run_id)][2:] == [(3, "succeeded", "webhook")]
    assert len(server.requests_to("/flaky/d")) == 3


MANUAL = """\
version: 1
name: manual
secrets: [API_TOKEN]
steps:
  - id: send
    rest: {{url: "{url}/flaky/${{{{ input.id }}}}?fail=1&status=500", method: POST, json: {{t: "${{{{ input.t }}}}"}}}}
output:
  attempt: "${{{{ steps.send.body.attempt }}}}"
"""


def test_a_run_without_delivery_is_replayed_from_the_history(cli, write, server, tmp_path):
    path = write("manual.yaml", MANUAL.format(url=server.url))
    first = cli(path, "--input", '{"id": "m", "t": "plain"}', prog="run-pipeline")
    assert first.code == 1
    db = tmp_path / "hookline-home" / "hookline.db"
    with closing(sqlite3.connect(db)) as con:
        (run_id,) = con.execute("SELECT id FROM runs").fetchone()
    result = cli("replay", run_id)
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"attempt": 2}
    assert [r.json for r in server.requests_to("/flaky/m")] == [{"t": "plain"}] * 2


def test_a_masked_history_input_is_not_replayed(cli, write, server, tmp_path):
    path = write("manual.yaml", MANUAL.format(url=server.url))
    cli(path, "--input", json.dumps({"id": "s", "t": TOKEN}), prog="run-pipeline")
    db = tmp_path / "hookline-home" / "hookline.db"
    with closing(sqlite3.connect(db)) as con:
        (run_id,) = con.execute("SELECT id FROM runs").fetchone()
    result = cli("replay", run_id)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: run {run_id}: its input in the run history has masked values (***) and no "
        "delivery keeps it as it was; run the pipeline with --input instead\n"
    )
    assert len(server.requests_to("/flaky/s")) == 1


def test_replay_usage_errors(cli, tmp_path):
    neither = cli("replay")
    assert (neither.code, neither.err) == (
        2,
        "error: give a RUN_ID, or --all-dead PIPELINE (not both)\n",
    )
    both = cli("replay", "abc", "--all-dead", "x")
    assert both.code == 2
    db = tmp_path / "hookline-home" / "hookline.db"
    missing = cli("replay", "abc")
    assert (missing.code, missing.err) == (
        2,
        f"error: no run history at {db} (set HOOKLINE_HOME or --db)\n",
    )


def test_a_run_without_delivery_queued_for_the_service_is_a_new_delivery(
    cli, write, server, tmp_path
):
    path = write("manual.yaml", MANUAL.format(url=server.url))
    cli(path, "--input", '{"id": "q", "t": "plain"}', prog="run-pipeline")
    db = tmp_path / "hookline-home" / "hookline.db"
    with closing(sqlite3.connect(db)) as con:
        (run_id,) = con.execute("SELECT id FROM runs").fetchone()
    result = cli("replay", run_id, "--queue")
    assert result.code == 0, result.err
    new_id = result.err.split(" queued as run ")[1].split(";")[0]
    assert result.err == (f"run {run_id}: queued as run {new_id}; the running service takes it\n")
    with closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT pipeline, trigger, input, status FROM deliveries").fetchone()
    assert row == ("manual", "replay", '{"id":"q","t":"plain"}', "queued")
