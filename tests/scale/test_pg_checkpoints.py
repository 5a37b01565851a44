"""Checkpoints in PostgreSQL: a run cut short by SIGKILL on one process resumes in
another exactly as an embedded one does (tests/test_resume.py): finished steps reused
without sending them again, a started GET sent again, a started POST stops the run in
``needs-attention``."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hookline import load_pipeline, run_pipeline
from hookline._engine import RunResult
from hookline._log import RunLog
from hookline._runtime import Runtime
from hookline.scale._pg_checkpoints import PgCheckpointStore
from hookline.scale._pg_history import PgStore
from hookline.scale._pg_history_read import PgHistory
from servers.gate_server import GateServer

RUN_ID = "7a0c1e2d3a4b5c6d7e8f90a1b2c3d4e5"

PIPELINE = """\
version: 1
name: resumable
steps:
  - id: create
    rest: {{url: "{url}/count/create", method: POST, json: {{n: 1}}}}
  - id: wait
    rest: {{url: "{url}/gate/wait", method: {method}}}
  - id: after
    set: "${{{{ steps.create.body.path }}}}"
output:
  created: "${{{{ steps.create.body }}}}"
  waited: "${{{{ steps.wait.body }}}}"
  after: "${{{{ steps.after }}}}"
"""

# The worker that dies: it runs the pipeline with PostgreSQL history and checkpoints.
DRIVER = """\
import sys
from hookline import load_pipeline, run_pipeline
from hookline._runtime import Runtime
from hookline.scale._pg_checkpoints import PgCheckpointStore
from hookline.scale._pg_history import PgStore

path, url, run_id = sys.argv[1:]
pipeline = load_pipeline(path)
store = PgStore(url)
checkpoints = PgCheckpointStore(store.pool)
runtime = Runtime(pipeline, {}, recorder=store)
run_pipeline(pipeline, None, runtime=runtime, run_id=run_id,
             checkpoint=checkpoints.for_run(run_id))
"""


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


def crash_at_wait(tmp_path: Path, gate: GateServer, method: str, pg_url: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(url=gate.url, method=method), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), pg_url, RUN_ID],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert gate.arrived("wait", timeout=30), proc.stderr.read() if proc.poll() else ""
        # the history's writer commits the first step's record on its own thread
        deadline = time.monotonic() + 30
        while not _committed(pg_url, "create"):
            assert time.monotonic() < deadline, "the first step's record was never committed"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]
    gate.open("wait")
    return path


def _committed(pg_url: str, step: str) -> bool:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM run_records WHERE run_id = %s AND step_id = %s AND status = 'ok'",
            (RUN_ID, step),
        ).fetchone()
    return row is not None


def resume(path: Path, pg_url: str) -> tuple[RunResult, str]:
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    with PgStore(pg_url, warn=pytest.fail) as store:
        checkpoints = PgCheckpointStore(store.pool)
        runtime = Runtime(pipeline, {}, log=RunLog(stream), recorder=store)
        result = run_pipeline(
            pipeline, None, runtime=runtime, run_id=RUN_ID, checkpoint=checkpoints.for_run(RUN_ID)
        )
        assert checkpoints.unfinished() == []  # the run ended: its checkpoints are gone
    return result, stream.getvalue()


def _status(pg_url: str) -> tuple[str, str | None]:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status, error FROM runs WHERE id = %s", (RUN_ID,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_resumed_run_reuses_finished_steps_and_redoes_a_started_get(tmp_path, gate, pg_url):
    path = crash_at_wait(tmp_path, gate, "GET", pg_url)
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 1}

    result, log = resume(path, pg_url)

    assert result.status == "succeeded", result.error
    assert result.output == {
        "created": {"method": "POST", "path": "/count/create"},
        "waited": {"gate": "wait"},
        "after": "/count/create",
    }
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 2}
    assert "create: reused (finished before the restart)" in log
    assert "wait: sent again: it had started before the restart; 'wait' sends a GET" in log
    assert _status(pg_url) == ("succeeded", None)
    with PgHistory(pg_url) as history:
        steps = [(s["step_id"], s["status"]) for s in history.get_run(RUN_ID)["steps"]]
    # the killed attempt's 'create' record, then the resumed attempt's, in order
    assert steps == [
        ("create", "ok"),
        ("create", "reused (finished before the restart)"),
        ("wait", "ok"),
        ("after", "ok"),
    ]


def test_a_resumed_run_stops_for_a_person_when_a_post_had_started(tmp_path, gate, pg_url):
    path = crash_at_wait(tmp_path, gate, "POST", pg_url)

    result, _ = resume(path, pg_url)

    message = (
        "step 'wait' had started when the run was cut short and may have reached the "
        "server; 'wait' sends a POST, which is not safe to send twice: a person must check "
        "whether it took effect before the run is started again"
    )
    assert (result.status, result.error, result.failed_step) == (
        "needs-attention",
        message,
        "wait",
    )
    assert gate.hits == {"POST /count/create": 1, "POST /gate/wait": 1}
    assert _status(pg_url) == ("needs-attention", message)


def test_checkpoints_keep_results_as_the_run_needs_them(pg_url):
    with PgCheckpointStore(pg_url) as store:
        marks = store.for_run("r1")
        marks.started(1, "next", "digest", False, "'next' sends a POST")
        marks.finished(0, "token", "digest", {"token": "s3cr3t", "n": float("inf"), "s": "\ud800"})
        loaded = marks.load()
        assert store.unfinished() == ["r1"]
        marks.clear()
        assert store.unfinished() == []
    assert loaded[0].result == {"token": "s3cr3t", "n": float("inf"), "s": "\ud800"}
    assert (loaded[1].phase, loaded[1].safe, loaded[1].why) == (
        "started",
        False,
        "'next' sends a POST",
    )
