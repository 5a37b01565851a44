"""Schedules in a real ``hookline serve``: fires missed while it was down are run once or
skipped at start, and a pipeline that ``run-pipeline`` (cron) holds waits for its lock.

No test waits for the wall clock's next minute: the missed fires are made by moving the
last fire back in the ``schedule_fires`` table while the service is stopped."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from hookline import _locks
from serve_support import Serve

SCHEDULED = """\
version: 1
name: {name}
trigger:
  schedule:
    cron: "*/5 * * * *"
    missed: {missed}
    input: {{from: "{name}"}}
steps:
  - id: echo
    set: "${{{{ input.from }}}}"
output: "${{{{ steps.echo }}}}"
"""
CODE = "import sys; from hookline.cli import main; sys.exit(main())"


def runs(home: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", CODE, "runs", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOOKLINE_HOME": str(home)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else []


def wait_runs(home: Path, count: int, timeout: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in runs(home) if r["status"] != "running"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def setup(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "p"
    directory.mkdir()
    for name, missed in (("catch-up", "run_once"), ("let-go", "skip")):
        text = SCHEDULED.format(name=name, missed=missed)
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    with Serve(directory, home):  # the first start: nothing was missed yet
        pass
    with closing(sqlite3.connect(home / "hookline.db")) as db, db:  # down for two hours
        db.executemany(
            "INSERT INTO schedule_fires (pipeline, last_fire, recorded_at) VALUES (?, ?, ?)",
            [(name, time.time() - 7200, time.time()) for name in ("catch-up", "let-go")],
        )
    return directory, home


def test_missed_fires_are_run_once_or_skipped_when_serve_starts(tmp_path):
    directory, home = setup(tmp_path)
    with Serve(directory, home) as serve:
        assert serve.wait_for(r"pipeline 'catch-up': \d+ fires missed .* running it once now")
        assert serve.wait_for(r"pipeline 'let-go': \d+ fires missed .* skipped \(missed: skip\)")
        done = wait_runs(home, 1)
    assert [(r["pipeline"], r["trigger"], r["status"]) for r in done] == [
        ("catch-up", "schedule", "succeeded")
    ]


def test_a_pipeline_held_by_run_pipeline_waits_for_its_lock_in_serve(tmp_path):
    directory, home = setup(tmp_path)
    held = _locks.acquire(home, "catch-up")  # as a run-pipeline from cron would
    assert held is not None
    try:
        with Serve(directory, home) as serve:
            assert serve.wait_for(r"pipeline 'catch-up': .* running it once now")
            time.sleep(1.5)  # the worker had time to start it, had the lock been free
            assert runs(home) == []
            held.release()
            done = wait_runs(home, 1)
    finally:
        held.release()
    assert [(r["pipeline"], r["status"]) for r in done] == [("catch-up", "succeeded")]
