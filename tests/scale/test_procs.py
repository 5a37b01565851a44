"""The process helpers (procs.py): healthy on return, output kept, nothing left behind.

They are checked here with the embedded ``serve``, which needs no broker or database.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from procs import ProcFailed, Procs

from serve_support import SIGNED, hook


def pipelines(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "echo.yaml").write_text(text, encoding="utf-8")
    return folder


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for the tests' purposes: it runs nothing and holds no port.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" in status.read_text()


def test_serve_is_healthy_takes_a_webhook_and_stops_on_sigterm(
    procs: Procs, tmp_path: Path
) -> None:
    folder = pipelines(tmp_path, hook("echo", "/hooks/echo", trigger_extra=SIGNED))
    serve = procs.serve(folder, "--workers", "1")
    assert serve.get("/healthz").status == 200
    answer = serve.post("/hooks/echo", {"n": 1})
    assert answer.status == 202, answer.body
    assert answer.json()["run_id"]
    unsigned = serve.post("/hooks/echo", {"n": 2}, sign=False)
    assert unsigned.status == 401
    serve.wait_for(r"serving 1 pipeline")
    assert serve.terminate() == 0
    assert not serve.running
    assert "Traceback" not in serve.output


def test_a_start_meant_to_fail_gives_its_exit_code_and_message(
    procs: Procs, tmp_path: Path
) -> None:
    folder = pipelines(tmp_path, "version: 1\nname: bad\nsteps: 7\n")
    serve = procs.serve(folder, ready=False)
    assert serve.wait() == 2
    assert "echo.yaml:3:" in serve.output
    assert "not started: 1 problem in 1 file" in serve.output


def test_a_process_that_never_gets_healthy_fails_the_test_with_its_output(
    tmp_path: Path,
) -> None:
    folder = pipelines(tmp_path, "version: 1\nname: bad\nsteps: 7\n")
    with Procs(tmp_path / "procs") as group, pytest.raises(ProcFailed) as failed:
        group.serve(folder)
    assert "did not become healthy (exit code 2)" in str(failed.value)
    assert "not started: 1 problem in 1 file" in str(failed.value)


def test_sigkill_and_the_end_of_the_group_leave_nothing_running(tmp_path: Path) -> None:
    folder = pipelines(tmp_path, hook("echo", "/hooks/echo", trigger_extra=SIGNED))
    with Procs(tmp_path / "procs") as group:
        killed = group.serve(folder)
        left = group.serve(folder)
        assert killed.port != left.port and killed.admin_port != left.admin_port
        assert killed.kill() == -signal.SIGKILL
        assert gone(killed.pid)
        assert left.running
        pid = left.pid
    # The group ended the one the test left running.
    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)


def test_wait_for_fails_with_the_output_when_the_line_never_comes(
    procs: Procs, tmp_path: Path
) -> None:
    folder = pipelines(tmp_path, hook("echo", "/hooks/echo", trigger_extra=SIGNED))
    serve = procs.serve(folder)
    serve.wait_for(r"serving 1 pipeline")  # it may come after /healthz answers
    with pytest.raises(ProcFailed) as failed:
        serve.wait_for(r"^no such line$", timeout=0.5)
    assert "serving 1 pipeline" in str(failed.value)


def test_a_worker_is_healthy_on_its_admin_port_and_stops_on_sigterm(
    procs: Procs, tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    folder = pipelines(tmp_path, hook("echo", "/hooks/echo", trigger_extra=SIGNED))
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}
    worker = procs.worker(folder, "--concurrency", "1", env=urls)
    assert worker.port == 0 and worker.admin_port
    assert worker.get("/healthz").status == 200
    assert worker.get("/metrics").status == 200
    assert worker.terminate() == 0
    assert "Traceback" not in worker.output
