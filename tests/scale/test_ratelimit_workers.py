"""A connection's rate_limit holds across four ``hookline worker`` processes: the
deliveries serve queued, run by four machines' worth of workers, never send more than
the limit, counted at the server (as tests/scale/test_ratelimit_shared.py counts
run-pipeline processes)."""

from __future__ import annotations

from pathlib import Path

import requests
from procs import Procs
from test_ratelimit_shared import busiest_window, clock_server  # noqa: F401 (a fixture)
from worker_support import Producer, write

PIPELINE = """\
version: 1
name: limited
concurrency: 8
trigger:
  webhook:
    path: /hooks/limited
connections:
  api:
    rest: {{base_url: {url}, rate_limit: 10/s}}
steps:
  - id: each
    for_each:
      items: "${{{{ input.calls }}}}"
      steps:
        - id: call
          rest: {{connection: api, method: POST, path: /hit, json: {{n: "${{{{ item }}}}"}}}}
output: "${{{{ input.n }}}}"
"""


def test_four_workers_share_one_rate_limit_counted_at_the_server(
    tmp_path: Path,
    redis_url: str,
    pg_url: str,
    clock_server: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """16 deliveries of 3 calls each, four workers of two runs at once: 48 arrivals at
    10/s. Each worker alone keeps to 10/s; without the window they share in Redis, four
    would send about 40 a second."""
    folder = write(tmp_path / "pipelines", limited=PIPELINE.format(url=clock_server))
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}
    with Producer(pg_url, redis_url) as producer, Procs(tmp_path, env=urls) as procs:
        workers = [procs.worker(folder, "--concurrency", "2") for _ in range(4)]
        ids = [producer.send("limited", {"n": n, "calls": [1, 2, 3]}) for n in range(16)]
        rows = [producer.wait(run_id, timeout=180) for run_id in ids]
        assert [(row["status"], row["error"]) for row in rows] == [("done", None)] * 16
        for worker in workers:
            assert worker.terminate() == 0
    times = requests.get(f"{clock_server}/arrivals", timeout=5).json()
    assert len(times) == 48
    # As in the run-pipeline test: the limit is on the send stamps (a 1.1 s window, the
    # 10 % margin), the server sees arrivals that a loaded machine can bunch a little, so
    # it judges 0.8 s.
    assert busiest_window(times, 0.8) <= 10
    times.sort()
    # 48 at 10 per 1.1 s: at least 4.4 s from the first to the 41st
    assert times[-1] - times[0] >= 3.5
    # and the runs were spread over the workers, not all run by one
    ran = producer_runs_by_worker(pg_url)
    assert len(ran) >= 2, ran


def producer_runs_by_worker(pg_url: str) -> dict[str, int]:
    """How many runs each worker process recorded (the history keeps its host:pid)."""
    import psycopg

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT host, pid, count(*) FROM runs GROUP BY host, pid").fetchall()
    return {f"{host}:{pid}": count for host, pid, count in rows}
