"""``hookline serve`` as a whole: refusing invalid pipelines, --skip-invalid, SIGTERM,
SIGHUP, the admin listener's /healthz and /metrics, a full queue."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from serve_support import ENTRY, SIGNED, Serve, hook
from servers.rest_app import RestServer

GOOD = hook("good", "/hooks/good", trigger_extra=SIGNED)
BROKEN = """version: 1
name: broken
trigger:
  webhook:
    path: /hooks/broken
    reply: sometimes
steps:
  - id: a
    set: "${{ steps.nope }}"
"""


def slow_hook(name: str, url: str, seconds: float) -> str:
    return hook(name, f"/hooks/{name}", trigger_extra=SIGNED,
                steps=f'  - id: wait\n    rest: {{connection: up, method: GET, path: "/slow?seconds={seconds}"}}\n',
                output='"${{ steps.wait.body }}"').replace(
        "steps:\n", f'connections:\n  up:\n    rest: {{base_url: "{url}"}}\nsteps:\n', 1
    )  # fmt: skip


def put(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_serve_refuses_to_start_while_a_pipeline_is_invalid(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "a-secret-value")
    directory = put(tmp_path / "p", {"good.yaml": GOOD, "broken.yaml": BROKEN})
    result = cli("serve", str(directory), "--port", "0", "--admin-port", "0")
    broken = directory / "broken.yaml"
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{broken}:6:12: trigger.webhook.reply: 'sometimes' (a string) is not one of async, sync",
        f"{broken}:9:21: unknown step 'nope' (no step runs before this one)",
        "not started: 2 problems in 1 file (--skip-invalid starts with the valid ones)",
    ]


def test_two_pipelines_with_one_name_or_one_path_are_refused(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "a-secret-value")
    directory = put(
        tmp_path / "p",
        {
            "a.yaml": GOOD,
            "b.yaml": GOOD.replace("/hooks/good", "/hooks/other"),
            "c.yaml": GOOD.replace("name: good", "name: third"),
        },
    )
    result = cli("serve", str(directory), "--port", "0", "--admin-port", "0")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{directory / 'b.yaml'}:2:7: the name 'good' is taken by {directory / 'a.yaml'}: "
        "each pipeline served from one directory needs its own name",
        f"{directory / 'c.yaml'}:5:11: POST /hooks/good is served by {directory / 'a.yaml'} "
        "already: give this webhook another path",
        "not started: 2 problems in 2 files (--skip-invalid starts with the valid ones)",
    ]


def test_a_missing_signature_secret_stops_serve_but_not_a_run_by_hand(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    directory = put(tmp_path / "p", {"good.yaml": GOOD})
    result = cli("serve", str(directory), "--port", "0", "--admin-port", "0")
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        f"{directory / 'good.yaml'}:7:11: secret 'HOOK_SECRET' is not set: set the environment "
        "variable HOOK_SECRET, or HOOK_SECRET_FILE to the path of a file that holds it"
    )
    by_hand = cli("run", str(directory / "good.yaml"), "--input", '{"a": 1}')
    assert (by_hand.code, by_hand.out) == (0, '{\n  "a": 1\n}\n')


def test_skip_invalid_with_no_valid_pipeline_does_not_start(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    directory = put(tmp_path / "p", {"broken.yaml": BROKEN})
    result = cli("serve", str(directory), "--skip-invalid", "--port", "0", "--admin-port", "0")
    assert result.code == 2
    assert result.err.splitlines()[-1] == "not started: no pipeline is valid (2 problems in 1 file)"


def test_skip_invalid_starts_with_the_valid_ones_and_says_which_were_skipped(
    tmp_path: Path,
) -> None:
    directory = put(tmp_path / "p", {"good.yaml": GOOD, "broken.yaml": BROKEN})
    with Serve(directory, tmp_path / "home", "--skip-invalid") as serve:
        assert serve.post("/hooks/good", {}).status == 202
        assert serve.post("/hooks/broken", {}).status == 404
    assert f"warning: {directory / 'broken.yaml'}: skipped (2 problems)" in serve.lines
    assert (
        f"  {directory / 'broken.yaml'}:6:12: trigger.webhook.reply: 'sometimes' (a string) is not one of async, sync"
        in serve.lines
    )


def test_health_and_metrics_on_the_admin_listener(tmp_path: Path) -> None:
    directory = put(tmp_path / "p", {"good.yaml": GOOD})
    with Serve(directory, tmp_path / "home") as serve:
        health = serve.request("GET", "/healthz", admin=True)
        assert (health.status, health.json()) == (
            200, {"status": "ok", "pipelines": 1, "queue_depth": 0, "running": 0},
        )  # fmt: skip
        run_id = serve.post("/hooks/good", {}).json()["run_id"]
        serve.post("/hooks/good", {}, sign=False)
        assert serve.wait_for(r"^echo: ok", 10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = serve.request("GET", "/metrics", admin=True)
            if b'hookline_runs_total{pipeline="good",status="succeeded"} 1.0' in metrics.body:
                break
            time.sleep(0.05)
        text = metrics.body.decode()
        assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        for line in [
            'hookline_runs_total{pipeline="good",status="succeeded"} 1.0',
            'hookline_run_duration_seconds_count{pipeline="good"} 1.0',
            "hookline_queue_depth 0.0",
            "hookline_intake_seconds_count 1.0",
            'hookline_deliveries_total{pipeline="good",trigger="webhook"} 1.0',
            'hookline_deliveries_refused_total{reason="unauthorized"} 1.0',
            'hookline_deliveries_refused_total{reason="queue_full"} 0.0',
            'hookline_http_requests_total{code="202",listener="public"} 1.0',
        ]:
            assert line in text.splitlines(), line
        assert run_id not in text
        public = serve.request("GET", "/metrics")
        assert public.status == 404


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    with RestServer() as upstream:
        directory = put(tmp_path / "p", {"slow.yaml": slow_hook("slow", upstream.url, 3)})
        with Serve(directory, tmp_path / "home", "--workers", "1", "--max-queue", "1",
                   "--grace", "0") as serve:  # fmt: skip
            assert serve.post("/hooks/slow", {}).status == 202
            deadline = time.monotonic() + 10  # until the worker took it: the queue is empty
            while serve.request("GET", "/healthz", admin=True).json()["running"] != 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert serve.post("/hooks/slow", {}).status == 202
            full = serve.post("/hooks/slow", {})
            assert (full.status, full.json(), full.headers["retry-after"]) == (
                503, {"error": "the queue is full: try again later"}, "30",
            )  # fmt: skip
            with closing(sqlite3.connect(serve.home / "hookline.db")) as db:
                assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 2


def test_sigterm_closes_the_listeners_lets_the_run_finish_and_exits_0(tmp_path: Path) -> None:
    with RestServer() as upstream:
        directory = put(tmp_path / "p", {"slow.yaml": slow_hook("slow", upstream.url, 1.5)})
        serve = Serve(directory, tmp_path / "home", "--grace", "20").start()
        try:
            run_id = serve.post("/hooks/slow", {}).json()["run_id"]
            deadline = time.monotonic() + 10
            while serve.request("GET", "/healthz", admin=True).json()["running"] != 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            serve.signal(signal.SIGTERM)
            assert serve.wait_for(r"SIGTERM: stopping; runs under way get 20s to finish", 10)
            with pytest.raises(OSError):  # the public listener is closed at once
                for _ in range(50):
                    socket.create_connection(("127.0.0.1", serve.port), timeout=1).close()
                    time.sleep(0.05)
            assert serve.wait(30) == 0
        finally:
            serve.stop()
        with closing(sqlite3.connect(tmp_path / "home" / "hookline.db")) as db:
            status = db.execute(
                "SELECT status FROM deliveries WHERE run_id = ?", (run_id,)
            ).fetchone()
        assert status == ("done",)  # the run finished within the grace period
        assert serve.lines[-1] == "stopped"


def test_sighup_reloads_a_valid_set_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    directory = put(tmp_path / "p", {"good.yaml": GOOD})
    with Serve(directory, tmp_path / "home") as serve:
        assert serve.post("/hooks/new", {}).status == 404
        (directory / "new.yaml").write_text(hook("new", "/hooks/new", trigger_extra=SIGNED))
        serve.signal(signal.SIGHUP)
        assert serve.wait_for(r"^SIGHUP: reloaded 2 pipelines: 2 webhooks, 0 schedules$", 20)
        assert serve.post("/hooks/new", {}).status == 202

        (directory / "broken.yaml").write_text(BROKEN)
        (directory / "new.yaml").unlink()
        serve.signal(signal.SIGHUP)
        refused = serve.wait_for(r"^error: SIGHUP: reload refused \(2 problems\); the pipelines "
                                 r"loaded before keep serving$", 20)  # fmt: skip
        assert refused
        problem = f"  {directory / 'broken.yaml'}:9:21: unknown step 'nope' (no step runs before this one)"
        assert serve.wait_for("^" + re.escape(problem) + "$", 5)
        # The old set serves on, new.yaml included although its file is gone.
        assert serve.post("/hooks/new", {}).status == 202
        assert serve.post("/hooks/broken", {}).status == 404


def test_a_closed_log_pipe_neither_breaks_answers_nor_stops_sigterm(tmp_path: Path) -> None:
    directory = put(tmp_path / "p", {"good.yaml": GOOD})
    serve = Serve(directory, tmp_path / "home")
    command = [
        sys.executable,
        "-c",
        ENTRY,
        "serve",
        str(directory),
        "--port",
        "0",
        "--admin-port",
        "0",
    ]
    proc = subprocess.Popen(
        command, env=serve.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()
    found = re.search(r"on http://127\.0\.0\.1:(\d+);", first)
    assert found, first
    serve.port = int(found.group(1))
    proc.stderr.close()  # whoever read the log is gone: every log line now fails (EPIPE)
    try:
        assert serve.post("/hooks/good", {}).status == 202
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_port_in_use_or_shared_is_a_usage_error(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "a-secret-value")
    directory = put(tmp_path / "p", {"good.yaml": GOOD})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", str(directory), "--port", str(port), "--admin-port", "0")
        assert (result.code, result.err) == (
            2, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n",
        )  # fmt: skip
    same = cli("serve", str(directory), "--port", "8123", "--admin-port", "8123")
    assert (same.code, same.err) == (
        2, "error: --admin-port must differ from --port: the admin paths are never served on the public listener\n",
    )  # fmt: skip
