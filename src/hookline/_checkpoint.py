"""Checkpoints: what a run cut short by a crash needs to resume at its first unfinished step.

While a run started by ``hookline serve`` goes, the engine records, for each top-level
step (index in ``steps``):

- ``started``, synchronously, just before a step that may reach a server begins, with
  whether sending it again is safe (see ``_checkpoint_rules``);
- ``finished``, synchronously, once the step ended, with its full result as JSON.

A resumed run (the same run id, run again after a restart) reuses the results of the
finished steps without sending their requests again, redoes a step that had started when
redoing it is safe, and otherwise stops in the ``needs-attention`` status. The rows are
deleted once the run ends, whatever its status.

The results here are NOT redacted: the run needs them as they were (a token a step
fetched is used by the next one). They live in the hookline home's database (mode 0600)
only while the run is unfinished.

The table lives in the run-history database, created by ``CREATE TABLE IF NOT EXISTS``
when a ``CheckpointStore`` opens it. Each store keeps one connection per thread. The
engine knows a run's checkpoints only through the ``Checkpoints`` protocol: in the
distributed mode they live in PostgreSQL (``hookline.scale._pg_checkpoints``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._errors import RunFailed

__all__ = [
    "RESUMABLE",
    "CheckpointFailed",
    "CheckpointStore",
    "Checkpoints",
    "Mark",
    "NeedsAttention",
    "SqliteCheckpoints",
    "plain_json",
]

#: Seconds a checkpoint write waits for another writer of the database.
BUSY_TIMEOUT = 30.0

#: End statuses after which a run may be run again under the same checkpoints: an
#: interrupted run (SIGTERM in serve) goes back to the queue and resumes. After any other
#: status the checkpoints are deleted.
RESUMABLE = frozenset({"interrupted"})


class NeedsAttention(RunFailed):
    """A resumed run cannot go on safely: a step that is not safe to send twice may have
    reached its server before the crash. The run ends in the ``needs-attention`` status."""

    def __init__(self, step_id: str | None, message: str) -> None:
        self.step_id = step_id
        super().__init__(message)


class CheckpointFailed(RunFailed):
    """A checkpoint could not be written: the run fails rather than go on unrecorded."""


_TABLE = """
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    phase TEXT NOT NULL,
    safe INTEGER NOT NULL,
    why TEXT,
    result TEXT,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID"""


@dataclass(frozen=True)
class Mark:
    """What is recorded of one top-level step of an unfinished run."""

    index: int
    step_id: str
    digest: str  # the pipeline file's sha256 when the step was recorded
    phase: str  # "started" | "finished"
    safe: bool  # started: True when sending the step again is safe
    why: str  # started: what makes it safe or unsafe, for the needs-attention message
    result: Any = None  # finished: the step's result


class Checkpoints(Protocol):
    """The checkpoints of one run, as the engine uses them (``checkpoint=``). Every
    write is committed before it returns."""

    run_id: str

    def load(self) -> dict[int, Mark]:
        """What an earlier attempt of this run recorded, by step index (empty: a new run);
        CheckpointFailed when it cannot be read."""
        ...

    def started(self, index: int, step_id: str, digest: str, safe: bool, why: str) -> None:
        """Step ``index`` is about to begin and may reach a server (CheckpointFailed)."""
        ...

    def finished(self, index: int, step_id: str, digest: str, result: Any) -> None:
        """Step ``index`` ended with ``result``, kept whole (CheckpointFailed)."""
        ...

    def clear(self) -> None:
        """The run ended: its checkpoints go (best effort, never raises)."""
        ...


class CheckpointStore:
    """The ``checkpoints`` table of one database, shared by every worker thread.

    ``synchronous`` is SQLite's setting: ``NORMAL`` (the default) survives a crash of the
    process, ``FULL`` also a power loss, at the cost of an fsync per checkpoint.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._db()  # create the table now: a broken database is seen before any run

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        db = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        if new:  # results here are not redacted: for the home's owner only
            os.chmod(self.path, 0o600)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_TABLE)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._local.db = db
        with self._lock:
            self._all.append(db)
        return db

    def for_run(self, run_id: str) -> SqliteCheckpoints:
        """The checkpoints of one run (the engine takes it as ``checkpoint=``)."""
        return SqliteCheckpoints(self, run_id)

    def unfinished(self) -> list[str]:
        """Ids of the runs that have checkpoints: runs a crash interrupted."""
        rows = self._db().execute("SELECT DISTINCT run_id FROM checkpoints ORDER BY run_id")
        return [row[0] for row in rows]

    def close(self) -> None:
        with self._lock:
            dbs, self._all = self._all, []
        for db in dbs:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._local = threading.local()

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteCheckpoints:
    """The checkpoints of one run in the embedded database (``Checkpoints``)."""

    def __init__(self, store: CheckpointStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def load(self) -> dict[int, Mark]:
        """What an earlier attempt of this run recorded, by step index (empty: a new run)."""
        try:
            rows = (
                self.store._db()
                .execute(
                    "SELECT idx, step_id, digest, phase, safe, why, result FROM checkpoints"
                    " WHERE run_id = ? ORDER BY idx",
                    (self.run_id,),
                )
                .fetchall()
            )
        except (sqlite3.Error, OSError) as exc:
            raise CheckpointFailed(
                f"cannot read the run's checkpoints in {self.store.path}: {exc}"
            ) from exc
        marks = {}
        for idx, step_id, digest, phase, safe, why, result in rows:
            value = json.loads(result) if result is not None else None
            marks[idx] = Mark(idx, step_id, digest, phase, bool(safe), why or "", value)
        return marks

    def started(self, index: int, step_id: str, digest: str, safe: bool, why: str) -> None:
        """Step ``index`` is about to begin and may reach a server."""
        self._write(
            step_id,
            "INSERT OR REPLACE INTO checkpoints (run_id, idx, step_id, digest, phase, safe, why)"
            " VALUES (?, ?, ?, ?, 'started', ?, ?)",
            (self.run_id, index, step_id, digest, int(safe), why),
        )

    def finished(self, index: int, step_id: str, digest: str, result: Any) -> None:
        """Step ``index`` ended with ``result`` (kept whole: a resumed run reuses it)."""
        text = plain_json(result)
        self._write(
            step_id,
            "INSERT OR REPLACE INTO checkpoints"
            " (run_id, idx, step_id, digest, phase, safe, why, result)"
            " VALUES (?, ?, ?, ?, 'finished', 1, NULL, ?)",
            (self.run_id, index, step_id, digest, text),
        )

    def clear(self) -> None:
        """The run ended: its checkpoints are of no more use. Best effort: rows left by a
        failed delete belong to a finished run, which is never resumed."""
        with contextlib.suppress(sqlite3.Error, OSError):
            self.store._db().execute("DELETE FROM checkpoints WHERE run_id = ?", (self.run_id,))

    def _write(self, step_id: str, sql: str, args: tuple[Any, ...]) -> None:
        try:
            self.store._db().execute(sql, args)
        except (sqlite3.Error, OSError) as exc:
            raise CheckpointFailed(
                f"cannot record the checkpoint of step '{step_id}' in {self.store.path}: {exc}"
            ) from exc


def plain_json(result: Any) -> str:
    """A step's result as the JSON text a checkpoint keeps."""
    # ensure_ascii: a lone surrogate from an upstream's JSON stays storable as \\udXXX.
    return json.dumps(result, default=_plain, allow_nan=True)


def _plain(value: Any) -> Any:
    """A value JSON has no type for (a SOAP date, a Decimal): kept as its text, as the
    run's output and history show it."""
    return str(value)
