"""Schedule precision of ``hookline serve``: 200 pipelines due in the same minute.

Run: ``python bench/schedule.py`` (5 rounds, about 15 s), ``--quick`` for 2 rounds.
``bench/webhook.py`` calls ``measure()`` for its table.

What serve does, in this process: the scheduler (``hookline.serve._scheduler``) fires 200
schedule triggers due at the same minute into the durable intake (``SqliteIntake`` on a
fresh ``hookline.db``, crash-durable), while the worker pool (4 threads, as serve starts
it, with the run history on) takes the deliveries and runs them: a one-step pipeline
each. The fire delay of one pipeline is the time from the minute it was due to the commit
of its delivery, the moment it could be acknowledged. The clock is the real one shifted so
that a minute starts two seconds after each round begins (rounds do not wait for the wall
clock's next minute); nothing else is simulated. Each round shows p50, p99 and max; the
table the median of the rounds and their min–max. Not a test: nothing asserts.
"""

# ruff: noqa: RUF001, RUF002, RUF003  (the table prints – as the other benches do)
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PIPELINE = """\
version: 1
name: {name}
trigger:
  schedule:
    cron: "* * * * *"
steps:
  - id: one
    set: 1
output: 1
"""
GOAL_P99_MS = 200.0


class ShiftedClock:
    """The real clock, moved so that the next minute starts ``lead`` seconds from now."""

    def __init__(self, lead: float = 2.0) -> None:
        now = time.time()
        self.shift = (60.0 - now % 60.0) - lead

    def time(self) -> float:
        return time.time() + self.shift

    def wait(self, until: float, wake: threading.Event) -> None:
        wake.wait(max(0.0, min(until - self.time(), 60.0)))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_round(count: int, workers: int) -> dict[str, float]:
    from hookline._load import load_pipeline
    from hookline._log import RunLog
    from hookline._store import Store
    from hookline.serve._intake_sqlite import SqliteIntake
    from hookline.serve._scheduler import Scheduler
    from hookline.serve._workers import WorkerPool
    from hookline.triggers.schedule import schedule_of

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        pipelines = {}
        for i in range(count):
            path = home / f"p{i:03}.yaml"
            path.write_text(PIPELINE.format(name=f"p{i:03}"), encoding="utf-8")
            pipelines[f"p{i:03}"] = load_pipeline(str(path), cache=None)
        db = home / "hookline.db"
        quiet = io.StringIO()
        intake = SqliteIntake(db)
        store = Store(db, warn=lambda message: None)
        pool = WorkerPool(
            intake,
            home=home,
            lookup=pipelines.get,
            recorder=store,
            workers=workers,
            make_log=lambda: RunLog(quiet, level="quiet"),
        )
        clock = ShiftedClock()
        committed: dict[str, float] = {}
        lock = threading.Lock()

        class Stamping:
            """The intake, with the commit time of each delivery noted as it happens."""

            def submit(self, delivery: Any) -> Any:
                future = intake.submit(delivery)

                def stamp(_: Any) -> None:
                    with lock:
                        committed[delivery.pipeline] = clock.time()

                future.add_done_callback(stamp)
                return future

            def depth(self) -> int:
                return intake.depth()

            def active(self, pipeline: str) -> int:
                return intake.active(pipeline)

            def outcome(self, run_id: str, timeout: float) -> Any:
                return intake.outcome(run_id, timeout)

        scheduler = Scheduler(
            Stamping(),
            [s for s in map(schedule_of, pipelines.values()) if s is not None],
            db=db,
            log=RunLog(quiet),
            clock=clock,
        )
        pool.start()
        scheduler.start()
        try:
            due = min(scheduler.next_fires().values())
            deadline = time.monotonic() + 30
            while len(committed) < count and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            scheduler.stop()
            pool.stop(grace=10)
            intake.close()
            store.close()
    delays = [(at - due) * 1000 for at in committed.values()]
    if len(delays) < count:
        raise RuntimeError(f"only {len(delays)} of {count} fires committed within 30 s")
    return {
        "p50": statistics.median(delays),
        "p99": _percentile(delays, 0.99),
        "max": max(delays),
    }


def measure(rounds: int = 5, count: int = 200, workers: int = 4) -> dict[str, list[float]]:
    """Fire delays (ms) of ``count`` pipelines due in one minute, per round."""
    out: dict[str, list[float]] = {"p50": [], "p99": [], "max": []}
    for _ in range(rounds):
        figures = one_round(count, workers)
        for key, value in figures.items():
            out[key].append(value)
    return out


def table(figures: dict[str, list[float]], count: int = 200) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"

    p99 = statistics.median(figures["p99"])
    verdict = "meets" if p99 <= GOAL_P99_MS else "misses"
    return (
        f"schedule fire delay, {count} pipelines due in one minute (ms; median of "
        f"{len(figures['p99'])} rounds, min–max)\n"
        f"  p50 {cell(figures['p50'])}   p99 {cell(figures['p99'])}   max {cell(figures['max'])}\n"
        f"  goal p99 <= {GOAL_P99_MS:.0f} ms: {verdict}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds: a smoke run")
    parser.add_argument("--count", type=int, default=200, help="pipelines due (200)")
    parser.add_argument("--workers", type=int, default=4, help="worker threads (4)")
    args = parser.parse_args()
    figures = measure(2 if args.quick else 5, args.count, args.workers)
    sys.stdout.write(table(figures, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
