"""Helpers of the worker tests (test_worker_*): a producer that does what ``serve`` does
in distributed mode (commit a delivery in PostgreSQL, publish its id on the broker, and,
as the leader's dispatcher, publish again what is due), and pipelines whose steps call a
``GateServer`` the test opens by hand."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hookline.serve._queue import Delivery
from serve_support import ENTRY

FINISHED = ("done", "dead", "needs-attention")


def pipeline(name: str, steps: str, *, concurrency: int | None = None) -> str:
    """A webhook pipeline ``name`` (path /hooks/<name>) with these steps (YAML, indented
    by two spaces under ``steps:``)."""
    extra = f"concurrency: {concurrency}\n" if concurrency else ""
    return (
        f"version: 1\nname: {name}\n{extra}trigger:\n  webhook:\n    path: /hooks/{name}\n"
        f"steps:\n{steps}"
    )


def write(folder: Path, **pipelines: str) -> Path:
    """A directory with one file per pipeline (``name=text``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pipelines.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def metric(text: str, name: str) -> float:
    """The value of one series (``name`` with its labels, as Prometheus prints it)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def wait_metric(proc: Any, series: str, value: float, timeout: float = 30) -> str:
    """The worker's metrics once ``series`` shows ``value``: a run is counted just after
    its delivery's row is committed, so a test that saw the row may be a moment early."""
    deadline = time.monotonic() + timeout
    while metric(text := proc.metrics(), series) != value:
        assert time.monotonic() < deadline, f"{series} is {metric(text, series)}, not {value}"
        time.sleep(0.05)
    return text


def quiet(gate: Any, key: str, *, for_: float, timeout: float) -> int:
    """``gate.hits[key]`` once no hit came for ``for_`` seconds: requests a stopped run
    had already sent have arrived, however slowly a loaded machine delivers them."""
    deadline = time.monotonic() + timeout
    seen, since = gate.hits[key], time.monotonic()
    while time.monotonic() - since < for_:
        assert time.monotonic() < deadline, f"{key} never went quiet: {gate.hits[key]} hits"
        time.sleep(0.05)
        if gate.hits[key] != seen:
            seen, since = gate.hits[key], time.monotonic()
    return seen


class Producer:
    """Serve's side of the queue, in the test process: the same calls serve makes."""

    def __init__(self, pg_url: str, broker_url: str) -> None:
        # Imported here, not at collection: the fixtures first check that the scale extra
        # is installed (and kombu, once imported, cannot be looked up by find_spec).
        from hookline.scale._celery import make_app
        from hookline.scale._config import ScaleConfig
        from hookline.scale._pg import make_pool, migrate
        from hookline.scale._pg_deliveries import Deliveries

        self.pool = make_pool(pg_url, max_size=2)
        with self.pool.connection() as conn:
            migrate(conn)
        self.deliveries = Deliveries(self.pool)
        self.app = make_app(ScaleConfig(broker=broker_url, database=pg_url, redis=broker_url))

    def send(self, pipeline: str, input: Any = None, key: str | None = None) -> str:
        """Commit a delivery, publish its id; the id (= its first run's id)."""
        accepted = self.deliveries.insert(
            Delivery(pipeline, "webhook", input, key, time.time()), published=True
        )
        self.publish(accepted.run_id)
        return accepted.run_id

    def dispatch(self) -> list[str]:
        """One round of the leader's dispatcher: publish what is due."""
        due = [id for id, _why in self.deliveries.due(republish=5.0)]
        for id in due:
            self.publish(id)
        return due

    def publish(self, id: str) -> None:
        from hookline.scale._celery import publish

        publish(self.app, id)

    def row(self, id: str) -> dict[str, Any]:
        found = self.deliveries.get(id)
        assert found is not None, id
        return found

    def wait(
        self,
        id: str,
        statuses: tuple[str, ...] = FINISHED,
        *,
        timeout: float = 60.0,
        dispatch: bool = False,
    ) -> dict[str, Any]:
        """The row once its status is one of ``statuses``; with ``dispatch``, the test
        plays the leader's dispatcher meanwhile (once a second, as it does)."""
        deadline = time.monotonic() + timeout
        last = 0.0
        while True:
            row = self.row(id)
            if row["status"] in statuses:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"delivery {id} still {row['status']} after {timeout}s")
            if dispatch and time.monotonic() - last >= 1.0:
                last = time.monotonic()
                self.dispatch()
            time.sleep(0.05)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return conn.execute(query, args).fetchall()

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hookline(
    *argv: str, env: dict[str, str], prelude: str = "", timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``hookline ARGV...`` in a subprocess, as a user types it; ``prelude``: Python run
    first in that process."""
    return subprocess.run(
        [sys.executable, "-c", f"{prelude}\n{ENTRY}", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
