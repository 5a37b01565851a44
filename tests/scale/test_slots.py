"""Pipeline run slots and the run-pipeline lock as Redis leases, on a real Redis."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hookline import _coord
from hookline._locks import acquire, busy_message
from hookline.scale._coordinate import install_redis, uninstall
from hookline.scale._redis import connect as _connect
from hookline.scale._slots import Slots

# run-pipeline as cron starts it, in a process of its own
RUN_PIPELINE = [
    sys.executable,
    "-c",
    "import sys; from hookline.cli import run_pipeline_main; sys.exit(run_pipeline_main())",
]

PIPELINE = """
version: 1
name: nightly-sync
steps:
  - id: hello
    set: {greeting: hi}
output: "${{ steps.hello.greeting }}"
"""

# Holds one slot of a pipeline in a process of its own, renewing it, until killed.
HOLDER = """
import sys, time
from hookline.scale._redis import connect
from hookline.scale._slots import Slots
lease = Slots(connect(sys.argv[1]), ttl=float(sys.argv[3])).acquire(sys.argv[2], 1)
print("held" if lease else "busy", flush=True)
time.sleep(600)
"""


@pytest.fixture
def connect():
    """``connect(url)``, each client closed when the test ends."""
    made = []

    def make(url):
        made.append(_connect(url))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def slots():
    """``slots(client, ttl=..., ...)``: a Slots, each closed when the test ends, so that
    no renewing thread outlives its test (it would write its slots back after a flush)."""
    made: list[Slots] = []

    def make(client, **kwargs):
        made.append(Slots(client, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _first_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The child's first line; a child that hangs before printing fails the test."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no line from the child in {timeout} s (exit {proc.poll()})"
    return proc.stdout.readline()


def run_pipeline(redis_url: str, pipeline: Path, home: Path, lease: float):
    env = {**os.environ, "HOOKLINE_HOME": str(home), "HOOKLINE_LEASE_SECONDS": str(lease)}
    return subprocess.run(
        [*RUN_PIPELINE, str(pipeline), "--redis", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_run_is_refused_while_another_machine_holds_the_lock_until_its_holder_dies(
    redis_url, tmp_path
):
    ttl = 5.0  # renewed every ttl/3: a loaded machine's late renewal is no lapse
    pipeline = tmp_path / "nightly.yaml"
    pipeline.write_text(PIPELINE)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, "nightly-sync", str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert _first_line(holder).strip() == "held"
        # another home: the flock files of one machine cannot see this holder
        time.sleep(ttl)  # past its first ttl: the holder renews its lease
        refused = run_pipeline(redis_url, pipeline, tmp_path / "other-machine", ttl)
        assert refused.returncode == 75, refused.stderr
        assert refused.stdout == ""
        assert re.search(
            r"pipeline 'nightly-sync' is already running \(pid \d+ on \S+ since "
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); this run was not started\.",
            refused.stderr,
        ), refused.stderr
        assert f"pid {holder.pid} on " in refused.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # its lease lapses within one ttl: nobody renews it; refused until then
        deadline = time.monotonic() + ttl + 30
        while (
            ran := run_pipeline(redis_url, pipeline, tmp_path / "other-machine", ttl)
        ).returncode == 75:
            assert time.monotonic() < deadline, ran.stderr
            time.sleep(0.5)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == '"hi"'
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_concurrency_caps_hold_across_clients_and_a_released_slot_is_free_at_once(
    redis_url, connect, slots
):
    first, second = slots(connect(redis_url), ttl=30), slots(connect(redis_url), ttl=30)
    a = first.acquire("fan-out", 2)
    b = second.acquire("fan-out", 2)
    assert a is not None and b is not None
    assert {a.slot, b.slot} == {0, 1}
    assert first.acquire("fan-out", 2) is None
    assert second.acquire("other-pipeline", 2) is not None  # per pipeline
    assert len(first.holders("fan-out")) == 2
    b.release()
    b.release()  # twice is harmless
    c = first.acquire("fan-out", 2)
    assert c is not None and c.slot == b.slot
    a.release()
    c.release()
    assert first.holders("fan-out") == []


def test_a_live_holder_keeps_its_slot_past_the_ttl(redis_url, connect, slots):
    # renewed every third of the ttl: a renewal late by up to ~2 s keeps the slot
    holder = slots(connect(redis_url), ttl=3.0)
    with holder.acquire("long-run", 1) as lease:
        time.sleep(7)  # past two ttls
        assert lease.held
        assert slots(connect(redis_url), ttl=3.0).acquire("long-run", 1) is None
    again = slots(connect(redis_url), ttl=30).acquire("long-run", 1)
    assert again is not None
    again.release()


def test_a_lease_taken_over_after_it_lapsed_is_not_freed_by_its_old_holder(
    redis_url, connect, slots
):
    warnings: list[str] = []
    old = slots(connect(redis_url), ttl=1.0, warn=warnings.append)
    lease = old.acquire("p", 1)
    assert lease is not None
    old.close()  # its renewing thread stops, as a process frozen for a while
    time.sleep(1.2)
    newer = slots(connect(redis_url), ttl=30).acquire("p", 1)
    assert newer is not None  # the lapsed lease was taken
    lease.renew()  # the old holder comes back: its renewal finds the lease gone
    assert lease.lost and not lease.held
    assert warnings == [
        "pipeline 'p': this run's slot lease lapsed (Redis out of reach, or this process "
        "paused, for longer than the lease), and another run took the slot meanwhile: the "
        "two runs go on at once"
    ]
    lease.release()  # and giving "its" slot back is a no-op
    assert slots(connect(redis_url), ttl=30).acquire("p", 1) is None  # still the new one's
    newer.release()


def test_an_old_holder_that_gives_back_a_lapsed_slot_does_not_free_the_new_holders(
    redis_url, connect, slots
):
    old = slots(connect(redis_url), ttl=1.0)
    lease = old.acquire("q", 1)
    assert lease is not None
    old.close()  # frozen: no renewal, and it does not know its lease lapsed
    time.sleep(1.2)
    newer = slots(connect(redis_url), ttl=30).acquire("q", 1)
    assert newer is not None and not lease.lost
    lease.release()  # compare-and-delete: the token is not its own any more
    assert slots(connect(redis_url), ttl=30).acquire("q", 1) is None
    newer.release()


def test_the_seam_takes_redis_leases_when_installed_and_files_otherwise(redis_url, tmp_path):
    assert _coord.shared() is None
    coordination = install_redis(redis_url, lease_ttl=30)
    try:
        held = acquire(tmp_path, "seam", 1)
        assert held is not None
        assert acquire(tmp_path / "elsewhere", "seam", 1) is None  # not a file lock
        assert not (tmp_path / "locks").exists()
        assert "is already running (pid " in busy_message(tmp_path, "seam", 1)
        held.release()
    finally:
        coordination.client.close()
        uninstall()
    local = acquire(tmp_path, "seam", 1)
    assert local is not None and (tmp_path / "locks").is_dir()
    local.release()


def test_redis_out_of_reach_refuses_the_run_with_the_reason(make_redis, tmp_path):
    server = make_redis()
    url = server.url.replace("redis://", "redis://:hunter2-secret@")
    server.kill()
    pipeline = tmp_path / "nightly.yaml"
    pipeline.write_text(PIPELINE)
    done = run_pipeline(url, pipeline, tmp_path / "home", 2)
    assert done.returncode == 75, done.stderr
    assert (
        f"cannot take a run slot: Redis at redis://***@127.0.0.1:{server.port}/0: " in done.stderr
    )
    assert "the run of pipeline 'nightly-sync' was not started" in done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr
