"""The cost of a `code` step call: through the warm worker pool against a direct
in-process call of the same function.

    python bench/code.py [--calls N] [--rounds R]

Each round times N calls of a small scoring function (a lead of a few fields in, a dict
out) both ways, interleaved (pool, direct, pool, ...); the table shows the median per call
and the min-max over rounds. The pool's worker is started (and the module loaded) before
timing: this is the per-call cost a `for_each` pays, not a cold start, which is printed
on its own line. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

from hookline.steps._code_pool import Pool

SOURCE = """\
def score(lead, hot_at=60):
    points = 30 if not lead["email"].endswith("@gmail.com") else 0
    points += 40 if lead.get("employees", 0) >= 200 else 0
    points += 30 if "demo" in lead.get("message", "").lower() else 0
    return {"score": points, "grade": "hot" if points >= hot_at else "cold"}
"""

LEAD = {"email": "ada@analytical.example", "employees": 250, "message": "A demo please"}
MEMORY = 512 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "score.py"
        file.write_text(SOURCE)
        spec = importlib.util.spec_from_file_location("bench_score", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        request = {"file": str(file), "function": "score", "args": {"lead": LEAD}}
        pool = Pool()
        started = time.perf_counter()
        pool.call(MEMORY, request, None)
        cold = time.perf_counter() - started
        pooled: list[float] = []
        direct: list[float] = []
        for _ in range(options.rounds):
            started = time.perf_counter()
            for _ in range(options.calls):
                pool.call(MEMORY, request, time.monotonic() + 60)
            pooled.append((time.perf_counter() - started) / options.calls)
            started = time.perf_counter()
            for _ in range(options.calls):
                module.score(**request["args"])
            direct.append((time.perf_counter() - started) / options.calls)
        pool.close()
    print(f"{options.calls} calls x {options.rounds} rounds; per call:")
    for name, times in (("code step (pool)", pooled), ("direct call", direct)):
        print(
            f"  {name:18} median {statistics.median(times) * 1e6:9.1f} us"
            f"  (min {min(times) * 1e6:.1f}, max {max(times) * 1e6:.1f})"
        )
    overhead = statistics.median(pooled) - statistics.median(direct)
    print(f"  overhead per call  {overhead * 1e6:9.1f} us")
    print(f"  first call (starts the worker, loads the file): {cold * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
