"""Where a poll trigger keeps its baseline: the ids and markers of its last poll.

It lives in the run-history database beside ``pipeline_state`` (which is capped at
1 MiB, too small for 100,000 records), one row per record, so that a poll rewrites only
what changed. Tables (created with ``CREATE TABLE IF NOT EXISTS`` on open):

- ``poll_baseline``: the pipeline, the record's id and its marker text.
- ``poll_polls``: per pipeline, when its baseline was last committed and how many records
  it holds; a pipeline without a row has no baseline (its next poll is a first poll).

The baseline is replaced only after the poll's runs are queued (``commit``), in one
transaction: a crash before it re-fires the same changes, which the intake refuses as
duplicates by their delivery key (``poll_diff.delivery_key``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["BUSY_TIMEOUT", "PollStore"]

#: Seconds a baseline read or write waits for another writer of the database.
BUSY_TIMEOUT = 30.0

_TABLES = (
    """CREATE TABLE IF NOT EXISTS poll_baseline (
    pipeline TEXT NOT NULL,
    id TEXT NOT NULL,
    marker TEXT NOT NULL,
    PRIMARY KEY (pipeline, id)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS poll_polls (
    pipeline TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    committed_at TEXT NOT NULL
) WITHOUT ROWID""",
)


class PollStore:
    """The baselines of every poll pipeline in one history database."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT):
        self._path = path
        self._busy = busy_timeout
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, timeout=self._busy, isolation_level=None)
            for table in _TABLES:
                db.execute(table)
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def load(self, pipeline: str) -> dict[str, str] | None:
        """The pipeline's baseline (id -> marker), or None when no poll has committed."""
        db = self._open()
        if (
            db.execute("SELECT 1 FROM poll_polls WHERE pipeline = ?", (pipeline,)).fetchone()
            is None
        ):
            return None
        rows = db.execute("SELECT id, marker FROM poll_baseline WHERE pipeline = ?", (pipeline,))
        return dict(rows.fetchall())

    def commit(
        self, pipeline: str, before: Mapping[str, str] | None, after: Mapping[str, str]
    ) -> None:
        """Replace the baseline ``before`` (as ``load`` gave it) by ``after``.

        Only the difference is written, so an unchanged poll of 100,000 records costs one
        small transaction, not 100,000 inserts.
        """
        old = before or {}
        gone = [(pipeline, ident) for ident in old if ident not in after]
        put = [(pipeline, i, m) for i, m in after.items() if old.get(i) != m]
        db = self._open()
        db.execute("BEGIN IMMEDIATE")
        try:
            if before is None:  # a first poll: drop rows a half-written past left behind
                db.execute("DELETE FROM poll_baseline WHERE pipeline = ?", (pipeline,))
            db.executemany("DELETE FROM poll_baseline WHERE pipeline = ? AND id = ?", gone)
            db.executemany("INSERT OR REPLACE INTO poll_baseline VALUES (?, ?, ?)", put)
            db.execute(
                "INSERT OR REPLACE INTO poll_polls VALUES (?, ?, ?)",
                (pipeline, len(after), datetime.now(UTC).isoformat(timespec="seconds")),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def forget(self, pipeline: str) -> None:
        """Drop the baseline: the next poll is a first poll again."""
        db = self._open()
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM poll_baseline WHERE pipeline = ?", (pipeline,))
        db.execute("DELETE FROM poll_polls WHERE pipeline = ?", (pipeline,))
        db.execute("COMMIT")
