"""REST throughput, memory and start-up: hookline side by side with plain requests.

Run: ``python bench/rest.py``. One local server (bench/server.py, its own process) serves
every case; each figure is printed next to its baseline, measured in the same run. Not a
test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

HERE = Path(__file__).resolve().parent
SEQUENTIAL = 1_000
FAN_OUT = 10_000
WORKERS = 16
START_ROUNDS = 10

PIPELINE = """\
version: 1
name: bench
connections:
  api:
    rest: {{base_url: "http://127.0.0.1:{port}"}}
steps:
  - id: each
    for_each:
      items: input
      concurrency: {workers}
      steps:
        - id: get
          rest: {{connection: api, path: "/item/${{{{ item }}}}"}}
      output: "${{{{ steps.get.body.id }}}}"
output: "${{{{ length(steps.each) }}}}"
"""

ONE_REQUEST = """\
version: 1
name: one
connections:
  api:
    rest: {{base_url: "http://127.0.0.1:{port}"}}
steps:
  - id: get
    rest: {{connection: api, path: /item/1}}
output: "${{{{ steps.get.body }}}}"
"""

PLAIN_SCRIPT = """\
import json, sys
import requests
print(json.dumps(requests.get("http://127.0.0.1:{port}/item/1", timeout=30).json()))
"""


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def hookline_run(port: int, items: int, workers: int, *, history: bool = False) -> float:
    """Seconds for one in-process run of the for_each pipeline."""
    from hookline import Runtime, load_pipeline, run_pipeline
    from hookline._log import RunLog
    from hookline._store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(PIPELINE.format(port=port, workers=workers), encoding="utf-8")
        pipeline = load_pipeline(path)
        store = Store(Path(tmp) / "h.db") if history else None
        runtime = Runtime(pipeline, {}, log=RunLog(io.StringIO()), recorder=store)
        started = time.perf_counter()
        result = run_pipeline(pipeline, list(range(items)), runtime=runtime)
        elapsed = time.perf_counter() - started
        runtime.close()
        if store is not None:
            store.close()
    assert result.ok and result.output == items, result.error
    return elapsed


def plain_sequential(port: int, items: int) -> float:
    session = requests.Session()
    started = time.perf_counter()
    out = [session.get(f"http://127.0.0.1:{port}/item/{i}", timeout=30).json()["id"]
           for i in range(items)]  # fmt: skip
    elapsed = time.perf_counter() - started
    session.close()
    assert out == list(range(items))
    return elapsed


def plain_pool(port: int, items: int, workers: int) -> float:
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=workers)
    session.mount("http://", adapter)

    def one(i: int) -> int:
        return int(session.get(f"http://127.0.0.1:{port}/item/{i}", timeout=30).json()["id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        out = list(pool.map(one, range(items)))
    elapsed = time.perf_counter() - started
    session.close()
    assert out == list(range(items))
    return elapsed


def child(variant: str, port: int) -> None:
    """Run one fan-out variant in this fresh process; print seconds and peak memory."""
    if variant == "hookline":
        seconds = hookline_run(port, FAN_OUT, WORKERS)
    else:
        seconds = plain_pool(port, FAN_OUT, WORKERS)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kib": peak_kib}))


def in_child(variant: str, port: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--port", str(port)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def row(what: str, ours: float, base: float, unit: str, goal: str) -> str:
    ratio = ours / base
    return f"{what:<44} {ours:>10.1f} {base:>10.1f} {unit:<6} {ratio:>6.2f}x  {goal}"


def best_of(n: int, *fns: Callable[[], float]) -> list[float]:
    """Best time of each function over ``n`` interleaved rounds."""
    best = [float("inf")] * len(fns)
    for _ in range(n):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], fn())
    return best


def main() -> None:
    print(f"bench/rest.py, {date.today()}: Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; the server runs on the same cores")  # fmt: skip
    server, port = start_server()
    try:
        hookline_run(port, 50, 1)  # warm: imports, connection
        plain_sequential(port, 50)
        seq, seq_history, base_seq = best_of(
            3,
            lambda: hookline_run(port, SEQUENTIAL, 1),
            lambda: hookline_run(port, SEQUENTIAL, 1, history=True),
            lambda: plain_sequential(port, SEQUENTIAL),
        )
        fan = [in_child("hookline", port) for _ in range(2)]
        base_fan = [in_child("plain", port) for _ in range(2)]
        hook_fan = min(fan, key=lambda r: r["seconds"])
        plain_fan = min(base_fan, key=lambda r: r["seconds"])

        with tempfile.TemporaryDirectory() as tmp:
            pipeline = Path(tmp) / "one.yaml"
            pipeline.write_text(ONE_REQUEST.format(port=port), encoding="utf-8")
            script = Path(tmp) / "one.py"
            script.write_text(PLAIN_SCRIPT.format(port=port), encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["HOOKLINE_HOME"] = tmp
            run_pipeline = str(Path(sys.executable).with_name("run-pipeline"))
            cmds = {
                "hookline": [run_pipeline, str(pipeline), "-q"],
                "plain": [sys.executable, str(script)],
                "bare": [sys.executable, "-c", "pass"],
            }
            for cmd in cmds.values():
                timed(cmd, env, tmp)  # warm the page cache and bytecode
            starts: dict[str, list[float]] = {k: [] for k in cmds}
            for _ in range(START_ROUNDS):
                for name, cmd in cmds.items():
                    starts[name].append(timed(cmd, env, tmp))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)

    print(f"\n{'what':<44} {'hookline':>10} {'baseline':>10} {'unit':<6} {'ratio':>7}  goal")
    print(row(f"{SEQUENTIAL:,} sequential GETs (best of 3)", seq * 1000, base_seq * 1000,
              "ms", "<= 1.10x vs a requests.Session loop"))  # fmt: skip
    print(row("  the same, with the SQLite run history", seq_history * 1000, base_seq * 1000,
              "ms", "(the CLI's default)"))  # fmt: skip
    print(row("  per request", seq / SEQUENTIAL * 1e6, base_seq / SEQUENTIAL * 1e6, "us", ""))
    rate = FAN_OUT / hook_fan["seconds"]
    base_rate = FAN_OUT / plain_fan["seconds"]
    print(row(f"for_each {FAN_OUT:,} items, concurrency {WORKERS}", rate, base_rate, "req/s",
              ">= 0.9x a ThreadPoolExecutor + Session"))  # fmt: skip
    print(row("  peak memory (max RSS of the process)", hook_fan["peak_kib"] / 1024,
              plain_fan["peak_kib"] / 1024, "MiB", "<= 2x"))  # fmt: skip
    hook_best, plain_best = min(starts["hookline"]), min(starts["plain"])
    print(row("cold run-pipeline, one request (best of 10)", hook_best * 1000, plain_best * 1000,
              "ms", "<= 1.3x vs python script.py"))  # fmt: skip
    print(row("  median", statistics.median(starts["hookline"]) * 1000,
              statistics.median(starts["plain"]) * 1000, "ms", ""))  # fmt: skip
    print(f"{'  python -c pass':<44} {min(starts['bare']) * 1000:>10.1f}")
    print("\nratio: hookline / baseline (for req/s higher is better, for the rest lower).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["hookline", "plain"])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.port)
    else:
        main()
