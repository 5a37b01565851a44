"""Per-pipeline locks: a second run-pipeline of a busy pipeline exits 75 at once, with a
message naming the pipeline, the process that holds it and how to allow overlap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from history_support import silent_server, start_stuck_run, statuses, wait_for
from hookline import _locks

QUICK = "version: 1\nname: {name}\n{extra}steps:\n  - id: one\n    set: 1\noutput: 1\n"
CODE = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"


def busy_line(home: Path, name: str, slots: int = 1) -> str:
    return "error: " + _locks.busy_message(home, name, slots)


def test_a_second_run_pipeline_process_exits_75_at_once(tmp_path):
    with silent_server() as (port, arrived):
        first, db = start_stuck_run(tmp_path, port)
        try:
            wait_for(arrived, first)  # the first run is inside its step, holding the lock
            second = subprocess.run(
                [sys.executable, "-c", CODE, str(tmp_path / "stuck.yaml"), "--db", str(db)],
                capture_output=True,
                text=True,
                env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
                timeout=60,
            )
            # It did not wait for the first run: that one is still stuck on the server.
            assert first.poll() is None
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=30)
    assert second.returncode == 75, second.stderr
    assert second.stdout == ""
    assert second.stderr == (
        f"error: pipeline 'stuck' is already running (pid {first.pid} since "
        f"{_since(second.stderr)}); this run was not started. To let runs overlap, set "
        "'concurrency: 2' at the top of the pipeline file\n"
    )
    # The refused run left no trace in the history: only the first (interrupted) one.
    assert [status for status, _ in statuses(db)] == ["interrupted"]
    # The first run's end gave the lock back.
    with _locks.acquire(tmp_path / "home", "stuck") as held:
        assert held is not None


def _since(text: str) -> str:
    return text.split(" since ", 1)[1].split(")", 1)[0]


def test_a_killed_run_releases_its_lock(tmp_path):
    with silent_server() as (port, arrived):
        first, _ = start_stuck_run(tmp_path, port)
        wait_for(arrived, first)
        assert _locks.acquire(tmp_path / "home", "stuck") is None
        first.kill()  # SIGKILL: no finally clause runs; the OS drops the lock
        first.communicate(timeout=30)
    held = _locks.acquire(tmp_path / "home", "stuck")
    assert held is not None
    held.release()


def test_busy_in_process(cli, write, tmp_path):
    path = write("p.yaml", QUICK.format(name="nightly", extra=""))
    home = tmp_path / "hookline-home"
    with _locks.acquire(home, "nightly"):
        result = cli(path, prog="run-pipeline")
        assert result.code == 75
        assert result.out == ""
        assert result.err == busy_line(home, "nightly") + "\n"  # read while still held
        assert f"(pid {os.getpid()} since " in result.err
    assert cli(path, prog="run-pipeline").code == 0  # released: the next run goes ahead


def test_busy_in_the_json_log_has_a_timestamp_and_an_event(cli, write, tmp_path):

    path = write("p.yaml", QUICK.format(name="nightly", extra=""))
    with _locks.acquire(tmp_path / "hookline-home", "nightly"):
        result = cli(path, "--log-format", "json", "-q", prog="run-pipeline")
    assert result.code == 75
    [record] = [json.loads(line) for line in result.err.splitlines()]
    assert record["event"] == "pipeline_busy"
    assert record["level"] == "error"
    assert record["time"].endswith("Z")
    assert record["message"].startswith("error: pipeline 'nightly' is already running (pid ")


def test_concurrency_gives_that_many_slots(cli, write, tmp_path):
    path = write("p.yaml", QUICK.format(name="fan", extra="concurrency: 2\n"))
    home = tmp_path / "hookline-home"
    with _locks.acquire(home, "fan", 2) as one:
        assert one is not None
        assert cli(path, prog="run-pipeline").code == 0  # the second slot was free
        with _locks.acquire(home, "fan", 2) as two:
            assert two is not None and two.slot == 1
            result = cli(path, prog="run-pipeline")
            expected = busy_line(home, "fan", 2) + "\n"
    assert result.code == 75
    assert result.err == expected
    assert "is already running 2 times, its 'concurrency' limit (pid " in result.err
    assert result.err.endswith("set 'concurrency: 3' at the top of the pipeline file\n")


def test_a_dry_run_takes_no_lock(cli, write, tmp_path):
    path = write("p.yaml", QUICK.format(name="nightly", extra=""))
    with _locks.acquire(tmp_path / "hookline-home", "nightly"):
        result = cli(path, "--dry-run", prog="run-pipeline")
    assert result.code == 0, result.err


def test_a_home_where_no_lock_can_be_made_is_a_warning(cli, write, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("HOOKLINE_HOME", str(blocker / "home"))
    path = write("p.yaml", QUICK.format(name="nightly", extra=""))
    result = cli(path, "--db", str(tmp_path / "h.db"), prog="run-pipeline")
    assert result.code == 0
    assert result.out == "1\n"
    assert (
        f"warning: cannot take the run lock in {blocker / 'home' / 'locks'}: Not a directory; "
        "running without it (overlapping runs of this pipeline are not prevented)\n"
    ) in result.err


def test_threads_of_one_process_conflict_like_processes(tmp_path):
    # flock belongs to the open file, not the process: serve's worker threads obey it.
    got: list[object] = []
    with _locks.acquire(tmp_path, "p") as mine:
        assert mine is not None
        thread = threading.Thread(target=lambda: got.append(_locks.acquire(tmp_path, "p")))
        thread.start()
        thread.join()
    assert got == [None]


def test_release_twice_is_harmless_and_clears_the_note(tmp_path):
    held = _locks.acquire(tmp_path, "p")
    assert held is not None
    assert _locks.holders(tmp_path, "p") == [f"pid {os.getpid()} since {_note_time(held)}"]
    held.release()
    held.release()
    assert _locks.holders(tmp_path, "p") == []


def _note_time(held: _locks.Held) -> str:
    return held.path.read_text().split(" since ")[1].strip()


def test_lock_file_names_are_safe_and_distinct(tmp_path):
    names = ["../../etc/passwd", "a/b", "a b", "a_b", "", "é" * 300, "con", ".hidden"]
    stems = [_locks.lock_stem(name) for name in names]
    assert len(set(stems)) == len(names)
    for stem in stems:
        assert "/" not in stem and "\\" not in stem and not stem.startswith(".")
        assert len(stem) <= 73
    for name in names:
        with _locks.acquire(tmp_path, name) as held:
            assert held is not None
            assert held.path.parent == tmp_path / "locks"


def test_a_run_holds_its_history_against_a_blob_sweep(tmp_path):
    # runs prune deletes unreferenced headers and bodies only while no process writes.
    with silent_server() as (port, arrived):
        first, db = start_stuck_run(tmp_path, port)
        try:
            wait_for(arrived, first)
            with _locks.history_alone(db) as alone:
                assert alone is False
        finally:
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=30)
    with _locks.history_alone(db) as alone:
        assert alone is True
