"""Two ``hookline serve`` processes in distributed mode fire a schedule once: only the
leader fires, and a leader killed mid-way is replaced by one that continues from the
marks in PostgreSQL instead of firing again.

No test waits for the wall clock's next minute: the fire is a missed one (``missed:
run_once``, the last fire planted two years back), which the leader fires as soon as it
takes over, as a start does in embedded mode (tests/test_serve_schedule_service.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psycopg
from procs import Proc, Procs

from hookline.scale._pg import make_pool, migrate

YEARLY = """\
version: 1
name: tick
trigger:
  schedule:
    cron: "0 0 1 1 *"
    missed: run_once
steps:
  - id: echo
    set: tock
output: "${{ steps.echo }}"
"""
LEADS = r"this instance leads now \(serve, term (\d+)\)"


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def counter(proc: Proc, name: str, **labels: str) -> float:
    """A counter's value in the process's /metrics (0 when it has no such series)."""
    text = proc.metrics()
    base = re.escape(name.removesuffix("_total"))
    assert re.search(rf"^# TYPE {base}(_total)? counter$", text, re.M), name  # it exists
    shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(f"{name}{{{shown}}}" if shown else name) + r" (\S+)"
    found = re.search(pattern, text)
    return float(found[1]) if found else 0.0


def leader_of(fronts: list[Proc], timeout: float = 30) -> tuple[Proc, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for front in fronts:
            found = re.search(LEADS, front.output)
            if found:
                return front, int(found[1])
        time.sleep(0.05)
    raise AssertionError("no serve instance became the leader")


def test_two_serve_instances_fire_once_and_a_new_leader_does_not_fire_again(
    procs: Procs, tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "tick.yaml").write_text(YEARLY, encoding="utf-8")
    pool = make_pool(pg_url, max_size=1)
    with pool.connection() as conn:
        migrate(conn)
        conn.execute(  # the service was down for two years
            "INSERT INTO schedule_fires (pipeline, last_fire) VALUES ('tick', %s)",
            (time.time() - 2 * 366 * 86400,),
        )
    pool.close()
    env = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}
    fronts = [procs.serve(folder, env=env), procs.serve(folder, env=env)]
    first, term = leader_of(fronts)
    other = next(front for front in fronts if front is not first)
    first.wait_for(r"pipeline 'tick': 2 fires missed while the service was down")
    keys = lambda: query(pg_url, "SELECT key FROM deliveries WHERE pipeline = 'tick'")  # noqa: E731
    deadline = time.monotonic() + 30
    while not keys() and time.monotonic() < deadline:
        time.sleep(0.05)
    (key,) = keys()
    assert re.fullmatch(r"\('schedule:\d{4}-01-01T00:00Z',\)", repr(key)), key
    for front in fronts:  # the follower did not even submit a duplicate
        assert counter(front, "hookline_deliveries_duplicate_total", pipeline="tick") == 0
    assert counter(first, "hookline_deliveries_total", pipeline="tick", trigger="schedule") == 1
    assert counter(other, "hookline_deliveries_total", pipeline="tick", trigger="schedule") == 0
    assert "fires missed" not in other.output

    before = len(re.findall(LEADS, other.output, re.M))  # a line of a past flip is old
    first.kill()  # a lost machine: its lease is not given back, it runs out
    deadline = time.monotonic() + 10 + 30  # the lease's ttl, and a margin
    while len(found := re.findall(LEADS, other.output, re.M)) == before:
        assert time.monotonic() < deadline, other.output
        time.sleep(0.1)
    assert int(found[-1]) > term
    time.sleep(1.0)  # a catch-up of its own, if any, would be in by now
    assert keys() == [key]
    assert counter(other, "hookline_deliveries_total", pipeline="tick", trigger="schedule") == 0
    assert counter(other, "hookline_deliveries_duplicate_total", pipeline="tick") == 0
    assert "fires missed" not in other.output  # the marks say nothing was missed
