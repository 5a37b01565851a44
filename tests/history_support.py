"""A server that never answers, and a run-pipeline process stuck on it: what the
signal and lost-run tests stop or kill."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

PIPELINE = """\
version: 1
name: stuck
connections:
  slow:
    rest:
      base_url: "http://127.0.0.1:{port}"
      timeout: 120s
steps:
  - id: wait
    rest: {{connection: slow, method: GET, path: /never}}
"""


@contextmanager
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """Accepts connections, reads the request, never answers. The event is set once a
    request has arrived: the run is then surely inside its step."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    arrived = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            conn.settimeout(5)
            try:
                if conn.recv(65536):
                    arrived.set()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], arrived
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def start_stuck_run(tmp_path: Path, port: int) -> tuple[subprocess.Popen[str], Path]:
    """``run-pipeline`` in its own process, on a pipeline waiting on the silent server."""
    path = tmp_path / "stuck.yaml"
    path.write_text(PIPELINE.format(port=port), encoding="utf-8")
    db = tmp_path / "h.db"
    code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
    )
    return proc, db


def wait_for(arrived: threading.Event, proc: subprocess.Popen[str]) -> None:
    if not arrived.wait(60):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"the run never reached the server: {err}")


def statuses(db: Path) -> list[tuple[str, str | None]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT status, error FROM runs ORDER BY started_at").fetchall()


def attempt_rows(db: Path | str) -> list[dict[str, Any]]:
    """Every attempt recorded in ``db``, as ``runs show --format json`` gives them: request
    and response with their headers and bodies (kept apart, by content hash, in the
    database since schema 3)."""
    from hookline._store_read import History

    with History(db) as history:
        return [
            a
            for run in history.list_runs(limit=1000)
            for a in history.get_run(run["id"])["attempts"]
        ]
