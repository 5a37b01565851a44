"""The dispatcher: publishes again, from the leader ``serve`` instance alone, what the
deliveries table says must run and the broker may not carry.

Every ``INTERVAL`` seconds, while this instance leads, it asks the table what is due
(``Deliveries.due``): deliveries whose publish failed (the broker was down), retries
whose time came (hookline schedules retries here, not as Celery ETA tasks), deliveries
whose worker died (its lease expired), and anything due that was not published for
``REPUBLISH_SECONDS`` (a broker restarted without its queue). It publishes each id. A
message sent twice is harmless: a claim is conditional, the second finds the row taken.

A publish that fails stops the round: the ids of the round go back to unpublished, and
the next round tries again. The outage is logged once, and its end once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import psycopg
from psycopg_pool import PoolTimeout

from .._errors import UsageError
from ._pg_deliveries import REPUBLISH_SECONDS, Deliveries

__all__ = ["BATCH", "INTERVAL", "Dispatcher", "Gate"]

#: Seconds between two rounds of the dispatcher.
INTERVAL = 1.0
#: Deliveries published per round at most (a longer backlog: the next round goes on at
#: once).
BATCH = 500
#: Seconds between two sweeps of old done deliveries (kept HOOKLINE_DELIVERY_DAYS).
SWEEP_SECONDS = 3600.0


class Gate(Protocol):
    """The leader lease (``_leader.Leader``): only the leader dispatches."""

    def is_leader(self) -> bool: ...


class _Log(Protocol):
    def info(self, message: str, event: str = ..., **fields: Any) -> None: ...
    def warning(self, message: str, event: str = ..., **fields: Any) -> None: ...


def republish_from_env(environ: Mapping[str, str]) -> float:
    """HOOKLINE_REPUBLISH_SECONDS (default ``REPUBLISH_SECONDS``), checked: seconds from 1
    to 86400. Shorter: a broker that lost its messages costs less wait; the price is a
    second message for a delivery that waits that long in a busy broker (harmless)."""
    text = environ.get("HOOKLINE_REPUBLISH_SECONDS", "").strip()
    if not text:
        return REPUBLISH_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 86_400:
        raise UsageError(f"HOOKLINE_REPUBLISH_SECONDS={text!r}: expected seconds from 1 to 86400")
    return value


class Dispatcher:
    """See the module docstring. ``published(reason)`` is called once per id sent (for
    the metrics); ``publish(id)`` may raise."""

    def __init__(
        self,
        deliveries: Deliveries,
        publish: Callable[[str], None],
        gate: Gate,
        *,
        log: _Log,
        interval: float = INTERVAL,
        batch: int = BATCH,
        republish: float | None = None,
        published: Callable[[str], None] | None = None,
        keep_done_days: float | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.publish = publish
        self.gate = gate
        self.log = log
        self.interval = interval
        self.batch = batch
        self.republish = republish_from_env(os.environ) if republish is None else republish
        self.published = published
        self.keep_done_days = keep_done_days
        self._swept = -SWEEP_SECONDS
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker_down = False
        self._db_down = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hookline-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            full = False
            if self.gate.is_leader():
                try:
                    full = self.round() >= self.batch
                    self._sweep()
                except Exception as exc:  # a bug must not end the dispatching for good
                    self.log.warning(f"dispatcher: {type(exc).__name__}: {exc}")
            if not full:
                self._stop.wait(self.interval)

    def round(self) -> int:
        """One round: publish what is due; the count of ids taken from the table."""
        try:
            due = self.deliveries.due(self.batch, self.republish)
        except (psycopg.Error, PoolTimeout) as exc:
            if not self._db_down:
                self._db_down = True
                self.log.warning(
                    f"cannot read the deliveries due from the database: {_line(exc)}; "
                    "trying again every second",
                    event="dispatch_failed",
                )
            return 0
        if self._db_down:
            self._db_down = False
            self.log.info("the database answers again: dispatching", event="dispatch_resumed")
        for index, (delivery, reason) in enumerate(due):
            if self._stop.is_set():
                self._unpublish([d for d, _ in due[index:]])
                break
            try:
                self.publish(delivery)
            except Exception as exc:
                self._unpublish([d for d, _ in due[index:]])
                if not self._broker_down:
                    self._broker_down = True
                    self.log.warning(
                        f"cannot publish to the broker: {_line(exc)}; the deliveries wait in "
                        "the database and are published once it answers",
                        event="broker_down",
                    )
                return 0
            if self._broker_down:
                self._broker_down = False
                self.log.info("the broker answers again: publishing", event="broker_up")
            if self.published is not None:
                self.published(reason)
        return len(due)

    def _sweep(self) -> None:
        """Hourly, on the leader: forget done deliveries older than keep_done_days (their
        dedup keys with them), as the embedded worker pool does."""
        if self.keep_done_days is None or time.monotonic() - self._swept < SWEEP_SECONDS:
            return
        self._swept = time.monotonic()
        with contextlib.suppress(psycopg.Error, PoolTimeout):  # next hour
            self.deliveries.forget_done(self.keep_done_days)

    def _unpublish(self, ids: list[str]) -> None:
        if ids:
            with contextlib.suppress(psycopg.Error, PoolTimeout):  # the republish catches it
                self.deliveries.unpublished(ids)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
