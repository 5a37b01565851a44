"""Helpers of the end-to-end tests (test_e2e_*): the command line as a subprocess, as a
user types it, and waiting for a condition with a clear failure. The serve and worker
processes come from ``procs``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from serve_support import ENTRY


def hookline_cli(
    *argv: str, env: dict[str, str], check: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``hookline ARGV...`` in a subprocess, as a user types it."""
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"hookline {' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done


def wait_until(
    condition: Callable[[], bool], *, what: str, timeout: float = 60.0, every: float = 0.1
) -> None:
    """Wait for ``condition``; ``every`` longer when it starts a process (a CLI started
    every 0.1 s keeps a core of a loaded machine busy just polling)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(every)


def run_statuses(pg_url: str) -> dict[str, str]:
    """Each run's status in the database (``id: status``): what a test polls, one query
    instead of a ``hookline runs`` process each time; the CLI is asked once at the end."""
    import psycopg  # the scale extra: imported once the fixtures checked it is installed

    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        rows = conn.execute("SELECT id, status FROM runs").fetchall()
    return {str(id): str(status) for id, status in rows}
