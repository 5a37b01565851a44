"""SIGTERM and SIGHUP stop a run as Ctrl-C does: the run is closed as interrupted in
the history and the process exits 128 + the signal's number."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from history_support import silent_server, start_stuck_run, statuses, wait_for


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, "interrupted by SIGTERM"),
        (signal.SIGHUP, 129, "interrupted by SIGHUP"),
        (signal.SIGINT, 130, "interrupted"),
    ],
)
def test_a_signal_closes_the_run_as_interrupted(tmp_path, sig, code, message):
    with silent_server() as (port, arrived):
        proc, db = start_stuck_run(tmp_path, port)
        wait_for(arrived, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert out == ""
    assert err.splitlines()[-1] == message
    assert "Traceback" not in err
    [(status, error)] = statuses(db)
    assert status == "interrupted"
    assert error is not None and error.startswith("interrupted")


def test_sigterm_stops_a_run_waiting_for_a_locked_history(tmp_path):
    # Another process holds the history for longer than the run would wait (30 s by
    # default). SQLite cannot run a signal handler while it waits for a lock, so the wait
    # must be short slices: SIGTERM ends the run at once, not when the lock is released.
    db = tmp_path / "h.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE filler (x)")
        holder.execute("BEGIN EXCLUSIVE")
        pipeline = tmp_path / "quick.yaml"
        pipeline.write_text(
            "version: 1\nname: quick\nsteps:\n  - id: one\n    set: 1\noutput: 1\n",
            encoding="utf-8",
        )
        code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(pipeline), "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
        )
        # Start-up is done once the run has the history open: the signal handlers are
        # installed before it opens it, and it is now waiting for the lock.
        deadline = time.monotonic() + 60
        if not Path("/proc/self/fd").is_dir():  # no /proc: a long start-up wait instead
            time.sleep(5)
        while Path("/proc/self/fd").is_dir() and not _has_open(proc.pid, db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never opened its history"
            time.sleep(0.05)
        time.sleep(0.3)  # inside the lock wait's first slice
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
        holder.execute("ROLLBACK")
    assert proc.returncode == 143, err
    # far sooner than the 30 s lock wait, with room for a loaded machine's exit
    assert waited < 10, f"SIGTERM took {waited:.1f}s to stop the run"
    assert out == ""
    assert "Traceback" not in err


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its /proc fd links)."""
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        return any(os.path.realpath(fd) == target for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False
