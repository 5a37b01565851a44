"""SIGTERM during a concurrent for_each: the run is closed as interrupted and the worker
threads stop taking items (they do not run the rest of the loop before the process ends)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

PIPELINE = """\
version: 1
name: fan-out
steps:
  - id: loop
    for_each:
      items: input
      concurrency: 4
      steps:
        - id: wait
          rest: {{url: "{url}/slow?seconds=${{{{ item }}}}"}}
"""


def test_sigterm_stops_a_concurrent_loop_and_closes_the_run(tmp_path, rest_server):
    path = tmp_path / "fan.yaml"
    path.write_text(PIPELINE.format(url=rest_server.url), encoding="utf-8")
    db = tmp_path / "h.db"
    code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            str(path),
            "--db",
            str(db),
            "--input",
            "[0.3" + ", 0.3" * 59 + "]",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
    )
    deadline = time.monotonic() + 60
    while len(rest_server.requests_to("/slow")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 0.3 + 2  # the requests in flight, not the whole loop
    assert err.splitlines()[-1] == "interrupted by SIGTERM"
    assert "Traceback" not in err
    assert len(rest_server.requests_to("/slow")) < 20
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT status, error FROM runs").fetchall()
    assert rows == [("interrupted", "interrupted by SIGTERM")]
