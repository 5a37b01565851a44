"""``hookline replay --database``: the dead deliveries of the distributed mode replayed
here (linked to their delivery, which becomes done) or queued again for the workers,
with the input they arrived with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from procs import Procs

from serve_support import ENTRY, SECRET, SIGNED, hook

FAILING = hook(
    "orders",
    "/hooks/orders",
    trigger_extra=SIGNED,
    steps='  - id: stop\n    fail: "order ${{ input.n }} refused"\n',
    output='"${{ input.n }}"',
)
FIXED = hook("orders", "/hooks/orders", trigger_extra=SIGNED, output='"${{ input.n }}"')


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def replay(*args: str, home: Path, database: str, redis: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "replay", *args],
        env={
            **clean,
            "HOOKLINE_HOME": str(home),
            "HOOKLINE_DATABASE_URL": database,
            # The run's lock is a lease in the Redis the workers share.
            "HOOKLINE_REDIS_URL": redis,
            "HOOKLINE_LOG_TIME": "never",
            "HOOK_SECRET": SECRET,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def status_of(url: str, delivery: str) -> str | None:
    found = query(url, "SELECT status FROM deliveries WHERE id = %s", delivery)
    return found[0][0] if found else None


def test_dead_deliveries_replayed_here_and_queued_again(
    procs: Procs, tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "orders.yaml").write_text(FAILING, encoding="utf-8")
    env = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": pg_url}
    front = procs.serve(folder, env=env)
    worker = procs.worker(folder, env=env)
    first = front.post("/hooks/orders", {"n": 1, "note": "kept as sent"}).json()["run_id"]
    second = front.post("/hooks/orders", {"n": 2}).json()["run_id"]
    assert wait_until(lambda: {status_of(pg_url, first), status_of(pg_url, second)} == {"dead"})
    assert worker.terminate() == 0
    (folder / "orders.yaml").write_text(FIXED, encoding="utf-8")
    home = tmp_path / "replayer"

    code, out, err = replay(first, home=home, database=pg_url, redis=redis_url)
    assert (code, out) == (0, "1\n"), err
    assert f"run {first} replayed as run " in err
    (attempts, run_id) = query(
        pg_url, "SELECT attempts, run_id FROM deliveries WHERE id = %s", first
    )[0]
    assert (status_of(pg_url, first), attempts) == ("done", 2)
    # The replay's run, with the input the delivery kept (not the history's copy).
    assert query(pg_url, "SELECT status, trigger, input FROM runs WHERE id = %s", run_id) == [
        ("succeeded", "replay", '{"n": 1, "note": "kept as sent"}')
    ]

    code, out, err = replay(
        "--all-dead", "orders", "--queue", home=home, database=pg_url, redis=redis_url
    )
    assert code == 0, err
    assert f"run {second}: its delivery is queued again; hookline workers take it" in err
    assert status_of(pg_url, second) == "queued"
    code, out, err = replay(second, home=home, database=pg_url, redis=redis_url)
    assert (code, out) == (2, "")
    assert err == (
        f"error: run {second} belongs to a delivery that is queued: hookline workers run "
        "it; replay it once it is done, dead or needs-attention\n"
    )
    procs.worker(folder, env=env)  # the fixed pipeline
    assert wait_until(lambda: status_of(pg_url, second) == "done")
    assert query(pg_url, "SELECT output FROM deliveries WHERE id = %s", second) == [(2,)]
