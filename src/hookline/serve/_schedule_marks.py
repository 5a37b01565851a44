"""Where the scheduler of ``hookline serve`` remembers each schedule's last fire.

The missed-fire policy counts from it (``_scheduler``). The embedded serve keeps it in
the ``schedule_fires`` table of its history database (``SqliteMarks``); the distributed
serve in PostgreSQL (``hookline.scale._pg_schedule.PgScheduleMarks``), so the next
leader continues where the last stopped. Both have the ``Marks`` shape.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from .._locks import HistoryShare
from ._intake_store import connect, patiently, transaction

__all__ = ["Marks", "SqliteMarks"]

TABLE = """CREATE TABLE IF NOT EXISTS schedule_fires (
    pipeline TEXT PRIMARY KEY,
    last_fire REAL NOT NULL,
    recorded_at REAL NOT NULL
)"""

_WRITE_TIMEOUT = 30.0


class Marks(Protocol):
    """Each pipeline's last fire handled (fired, skipped, or missed and skipped)."""

    def open(self) -> None:
        """Before the first read (the scheduler's start)."""
        ...

    def close(self) -> None: ...

    def last_fires(self) -> dict[str, float]:
        """pipeline -> epoch seconds of its last fire handled."""
        ...

    def record(self, fires: Sequence[tuple[str, float]]) -> None:
        """Remember these fires, in one transaction; a mark only moves forward.
        Raises when it cannot: the scheduler logs it (a missed-fire check may then
        repeat a fire, which its delivery key keeps from running twice)."""
        ...


class SqliteMarks:
    """The marks in the history database of the embedded serve."""

    def __init__(self, db: Path) -> None:
        self.db_path = Path(db)
        self._db: sqlite3.Connection | None = None
        self._share: HistoryShare | None = None

    def open(self) -> None:
        # serve's history writer lives as long as the service and remembers the ids of
        # the texts it stored: ``runs prune`` must not delete them meanwhile. The store
        # does not hold this share itself (yet); the scheduler lives as long as it does.
        self._share = HistoryShare(self.db_path)
        self._db = connect(self.db_path)
        patiently(self._create, _WRITE_TIMEOUT)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._share is not None:
            self._share.release()
            self._share = None

    def _create(self) -> None:
        assert self._db is not None
        have = self._db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'schedule_fires'"
        ).fetchone()[0]
        if not have:
            with transaction(self._db):
                self._db.execute(TABLE)

    def last_fires(self) -> dict[str, float]:
        if self._db is None:
            return {}
        rows = self._db.execute("SELECT pipeline, last_fire FROM schedule_fires").fetchall()
        return {str(name): float(at) for name, at in rows}

    def record(self, fires: Sequence[tuple[str, float]]) -> None:
        if not fires or self._db is None:
            return
        db, stamp = self._db, time.time()

        def write() -> None:
            with transaction(db):
                db.executemany(
                    "INSERT INTO schedule_fires (pipeline, last_fire, recorded_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (pipeline) DO UPDATE SET"
                    " last_fire = max(last_fire, excluded.last_fire),"
                    " recorded_at = excluded.recorded_at",
                    [(name, at, stamp) for name, at in fires],
                )

        patiently(write, _WRITE_TIMEOUT)
