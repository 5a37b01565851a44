"""Resuming a run that a crash (SIGKILL) cut short: the recorded results of finished steps
are reused without sending their requests again, a step that had started is redone only
when that is safe, and otherwise the run stops in ``needs-attention``."""

from __future__ import annotations

import contextlib
import io
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline import load_pipeline, run_pipeline
from hookline._checkpoint import CheckpointStore
from hookline._engine import RunResult
from hookline._log import RunLog
from hookline._runtime import Runtime
from hookline._store import Store
from hookline._store_read import History
from servers.gate_server import GateServer

RUN_ID = "5f0c1e2d3a4b5c6d7e8f90a1b2c3d4e5"

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

# The process that crashes: it runs the pipeline with checkpoints, as a serve worker does.
DRIVER = """\
import sys
import time
from hookline import load_pipeline, run_pipeline
from hookline._checkpoint import CheckpointStore
from hookline._runtime import Runtime
from hookline._store import Store
from hookline._store_read import History

path, db, run_id = sys.argv[1:]
pipeline = load_pipeline(path)
store = Store(db)
checkpoints = CheckpointStore(db)
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


def crash_at_wait(tmp_path: Path, gate: GateServer, method: str) -> tuple[Path, Path]:
    """Run the pipeline in a subprocess and SIGKILL it while step 'wait' is in flight."""
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(url=gate.url, method=method), encoding="utf-8")
    db = tmp_path / "h.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(path), str(db), RUN_ID],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert gate.arrived("wait", timeout=30), proc.stderr.read() if proc.poll() else ""
        # Let the history's writer commit the records of 'create' (it batches them for up
        # to 0.2 s): the resumed run's records then follow records already on disk.
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]
    gate.open("wait")  # a request sent again is answered at once
    return path, db


def resume(path: Path, db: Path) -> tuple[RunResult, str]:
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    with Store(db) as store, CheckpointStore(db) as checkpoints:
        runtime = Runtime(pipeline, {}, log=RunLog(stream), recorder=store)
        result = run_pipeline(
            pipeline, None, runtime=runtime, run_id=RUN_ID, checkpoint=checkpoints.for_run(RUN_ID)
        )
        assert checkpoints.unfinished() == []  # the run ended: its checkpoints are gone
    return result, stream.getvalue()


def history_status(db: Path) -> tuple[str, str | None]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT status, error FROM runs WHERE id = ?", (RUN_ID,)).fetchone()
    return row[0], row[1]


def test_resume_reuses_finished_steps_and_redoes_a_get_that_had_started(tmp_path, gate):
    path, db = crash_at_wait(tmp_path, gate, "GET")
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 1}

    result, log = resume(path, db)

    assert result.status == "succeeded", result.error
    assert result.output == {
        "created": {"method": "POST", "path": "/count/create"},
        "waited": {"gate": "wait"},
        "after": "/count/create",
    }
    # create was not sent again (its recorded answer was used); wait was, being a GET
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 2}
    assert "create: reused (finished before the restart)" in log
    assert "wait: sent again: it had started before the restart; 'wait' sends a GET" in log
    assert history_status(db) == ("succeeded", None)
    # The history keeps both attempts' records under the one run (the first attempt's
    # 'create' is there too); the resumed attempt's, in order:
    with History(db) as history:
        steps = [(s["step_id"], s["status"]) for s in history.get_run(RUN_ID)["steps"]]
    assert [step for step in steps if step != ("create", "ok")] == [
        ("create", "reused (finished before the restart)"),
        ("wait", "ok"),
        ("after", "ok"),
    ]


def test_resume_stops_for_a_person_when_a_post_had_started(tmp_path, gate):
    path, db = crash_at_wait(tmp_path, gate, "POST")

    result, _ = resume(path, db)

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
    assert gate.hits == {"POST /count/create": 1, "POST /gate/wait": 1}  # nothing resent
    assert history_status(db) == ("needs-attention", message)


def test_resume_after_the_pipeline_file_changed_asks_for_a_person(tmp_path, gate):
    path, db = crash_at_wait(tmp_path, gate, "GET")
    path.write_text(path.read_text() + "# edited\n", encoding="utf-8")

    result, _ = resume(path, db)

    assert result.status == "needs-attention"
    assert result.error == (
        "the pipeline file changed since this run began, so the results it recorded may "
        "not fit the new steps; a person must check what the run did before it is run again"
    )
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 1}


def test_a_run_with_checkpoints_that_ends_leaves_none(tmp_path, gate):
    gate.open("wait")
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(url=gate.url, method="GET"), encoding="utf-8")
    result, _ = resume(path, tmp_path / "h.db")
    assert result.status == "succeeded"
    assert gate.hits == {"POST /count/create": 1, "GET /gate/wait": 1}


def test_checkpoints_keep_results_unredacted_as_the_run_needs_them(tmp_path):
    # A result holding a secret's value is stored as it is (the run reads it back), in
    # a database only its owner can read.
    db = tmp_path / "h.db"
    with CheckpointStore(db) as store:
        marks = store.for_run("r1")
        marks.finished(0, "token", "digest", {"token": "s3cr3t-value", "n": float("inf")})
        loaded: dict[int, Any] = marks.load()
    assert loaded[0].result == {"token": "s3cr3t-value", "n": float("inf")}
    assert db.stat().st_mode & 0o777 == 0o600


def test_a_resumed_run_records_after_what_the_crashed_attempt_kept(tmp_path):
    # The first attempt's records reached the database before the crash; the resumed
    # attempt, in a new process, numbers its own after them instead of colliding (which
    # turned the whole history off: UNIQUE constraint failed).
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: s\nsteps:\n  - id: a\n    set: 1\n  - id: b\n    set: 2\n",
        encoding="utf-8",
    )
    pipeline, db, warnings = load_pipeline(path), tmp_path / "h.db", []
    crashed = Store(db, warn=warnings.append)
    crashed.run_started(RUN_ID, pipeline, "webhook", None)
    crashed.step_finished(RUN_ID, "a", "ok", 0.1, 1, None)
    crashed.step_finished(RUN_ID, "b", "ok", 0.1, 2, None)
    crashed.flush()  # then the process dies: no run_finished (closed below, unused)
    try:
        with Store(db, warn=warnings.append) as resumed:
            resumed.run_started(RUN_ID, pipeline, "webhook", None)
            resumed.step_finished(RUN_ID, "a", "reused (finished before the restart)", 0, 1, None)
            resumed.step_finished(RUN_ID, "c", "ok", 0.1, 3, None)
            resumed.run_finished(RUN_ID, "succeeded", 3, None)
    finally:
        crashed.close()
    assert warnings == []
    with History(db) as history:
        run = history.get_run(RUN_ID)
    assert run["status"] == "succeeded"
    assert [(s["step_id"], s["status"]) for s in run["steps"]] == [
        ("a", "ok"),
        ("b", "ok"),
        ("a", "reused (finished before the restart)"),
        ("c", "ok"),
    ]
