"""A connection's rate_limit shared by every worker process through Redis, counted at
the server as the one-machine test counts it (tests/connectors/test_rest_concurrency)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hookline.scale._ratelimit import RedisRateLimiter, window_key
from hookline.scale._redis import CoordinationUnavailable
from hookline.scale._redis import connect as _connect

HERE = Path(__file__).resolve().parent
# run-pipeline as cron starts it, in a process of its own
RUN_PIPELINE = [
    sys.executable,
    "-c",
    "import sys; from hookline.cli import run_pipeline_main; sys.exit(run_pipeline_main())",
]
CLOCK_SERVER = HERE.parent / "servers" / "clock_server.py"

PIPELINE = """
version: 1
name: shared-limit
concurrency: 4
connections:
  api:
    rest: {{base_url: {url}, rate_limit: 10/s}}
steps:
  - id: each
    for_each:
      items: input
      concurrency: 4
      steps:
        - id: call
          rest: {{connection: api, method: POST, path: /hit, json: {{n: "${{{{ item }}}}"}}}}
      output: "${{{{ steps.call.body.ok }}}}"
output: "${{{{ steps.each }}}}"
"""


@pytest.fixture
def clock_server() -> Iterator[str]:
    """A server in its own process that notes arrival times (tests/servers)."""
    proc = subprocess.Popen(
        [sys.executable, str(CLOCK_SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # a server that hangs before printing its port fails the test, not hangs it
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, f"the clock server printed no port in 60 s (exit {proc.poll()})"
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


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


def busiest_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + width) for i, start in enumerate(times))


def test_four_worker_processes_never_exceed_the_shared_limit(redis_url, clock_server, tmp_path):
    """10/s, four processes of 12 requests each, four at once in each: 48 arrivals, and
    no one-second window at the server holds more than 10 (each process alone would
    send 10/s: 40/s together without the shared window)."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(url=clock_server))
    procs = []
    for index in range(4):
        home = tmp_path / f"home{index}"
        env = {**os.environ, "HOOKLINE_HOME": str(home)}
        procs.append(
            subprocess.Popen(
                [
                    *RUN_PIPELINE,
                    str(pipeline),
                    "--redis",
                    redis_url,
                    "-q",
                    "--input",
                    json.dumps(list(range(12))),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out) == [True] * 12
    times = requests.get(f"{clock_server}/arrivals", timeout=5).json()
    assert len(times) == 48
    # The limit is enforced on the stamps taken just before each send (a window of
    # 1.1 s: the product's 10 % margin); the server sees arrivals, which scheduling on a
    # loaded machine can bunch by a few hundred ms, so it judges a 0.8 s window. Without
    # the shared window, 40/s would put about 30 arrivals in it.
    assert busiest_window(times, 0.8) <= 10
    times.sort()
    # 48 at 10 per 1.1 s: the 41st is sent at least 4.4 s after the 1st (about 1.2 s
    # for four processes that each keep only their own 10/s)
    assert times[-1] - times[0] >= 3.5
    assert busiest_window(times) >= 6  # and the limit is used, not wasted


def test_two_limiters_of_one_identity_share_one_window(redis_url, connect):
    """Two limiter objects (two processes' views) of one window: 6 slots at 3 per 0.5 s
    are spread over at least one full window, by Redis's clock."""
    name = window_key("p", "api", "http://127.0.0.1:1")
    client = connect(redis_url)
    first = RedisRateLimiter(client, name, 3, 0.5)
    second = RedisRateLimiter(connect(redis_url), name, 3, 0.5)
    stamps = []
    for limiter in (first, second, first, second, first, second):
        slot = limiter.acquire()
        assert slot is not None
        stamps.append(float(client.zscore(name, slot)))
    assert stamps[5] - stamps[0] >= 0.5  # the 6th waited for the 1st to leave the window
    assert busiest_window(stamps, 0.5) <= 3


def test_a_wait_past_the_deadline_gives_up_at_once(redis_url, connect):
    limiter = RedisRateLimiter(connect(redis_url), window_key("p", "a", ""), 1, 30.0)
    assert limiter.acquire(time.monotonic() + 5) is not None
    started = time.monotonic()
    assert limiter.acquire(time.monotonic() + 5) is None  # the next slot opens after 33 s
    assert time.monotonic() - started < 5  # it did not sleep first


def test_redis_out_of_reach_is_a_clear_error_without_the_password(make_redis, connect):
    server = make_redis()
    url = server.url.replace("redis://", "redis://hook:s3cret-pass@")
    server.kill()
    limiter = RedisRateLimiter(connect(url), window_key("p", "a", ""), 5, 1.0)
    with pytest.raises(CoordinationUnavailable) as caught:
        limiter.acquire()
    message = str(caught.value)
    assert message.startswith(
        f"cannot count the shared rate limit: Redis at redis://hook:***@127.0.0.1:{server.port}/0: "
    )
    assert "s3cret" not in message


def test_a_step_whose_shared_limit_cannot_be_counted_fails_with_the_reason(
    make_redis, clock_server, tmp_path
):
    """Redis gone between the run's slot and its first request: the step fails (exit 1),
    nothing is sent uncounted, and the message says why."""
    server = make_redis()
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(url=clock_server))
    script = (
        "import sys\n"
        "from hookline import _coord\n"
        "from hookline.cli import run_pipeline_main\n"
        "from hookline.scale._coordinate import RedisCoordination\n"
        "from hookline.scale._redis import connect\n"
        "coordination = RedisCoordination(connect(sys.argv[1]))\n"
        "_coord.install(coordination)\n"
        "slots = coordination.slots\n"
        # the run's slot is taken on a live Redis; the limiter's is a dead one
        "coordination.rate_limiter = lambda *a: RedisCoordination(connect(sys.argv[2]))"
        ".rate_limiter(*a)\n"
        "sys.exit(run_pipeline_main(sys.argv[3:]))\n"
    )
    dead = make_redis()
    dead_url = dead.url
    dead.kill()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            server.url,
            dead_url,
            str(pipeline),
            "--input",
            "[1]",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 1, done.stderr
    assert (
        f"POST {clock_server}/hit: cannot count the shared rate limit: Redis at {dead_url}: "
        in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert requests.get(f"{clock_server}/arrivals", timeout=5).json() == []
