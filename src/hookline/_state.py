"""State between runs: a JSON object per pipeline (by name), kept in the run-history
database, read by expressions as ``state`` and updated by the pipeline's ``save_state``.

Tables (created with ``CREATE TABLE IF NOT EXISTS`` when a ``StateStore`` opens the
database):

- ``pipeline_state``: the current value of each pipeline's state and its version (a
  counter, 1 for the first update). The values are the REAL ones, not redacted: the next
  run needs them. The database is the home's, mode 0600.
- ``state_changes``: one row per committed version: which keys it changed, the run that
  committed it (or the ``hookline state`` command), and the new values of those keys
  redacted, for ``hookline runs show`` and ``hookline state show``. The last
  ``CHANGES_KEPT`` rows of each pipeline are kept.

The update rule (docs/state.md): a run reads the state with its version; its update is
committed in the same transaction as the run's final record, only when the run
succeeded. If another run committed a newer version meanwhile, and that version changed
any key this run changes too, this run fails with a "state conflict" and nothing of it is
saved; updates of disjoint keys merge. A key set to null is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ._errors import RunFailed

__all__ = [
    "CHANGES_KEPT",
    "MAX_STATE_BYTES",
    "Snapshot",
    "StateBackend",
    "StateConflict",
    "StateFailed",
    "StateStore",
    "committer",
    "encode",
    "merge",
]

#: Size cap of one pipeline's stored state, as JSON text (bytes of UTF-8).
MAX_STATE_BYTES = 1024 * 1024
#: ``state_changes`` rows kept per pipeline (older ones are deleted at each commit).
CHANGES_KEPT = 1000
#: Seconds a state read or write waits for another writer of the database.
BUSY_TIMEOUT = 30.0

TABLES = (
    """CREATE TABLE IF NOT EXISTS pipeline_state (
    pipeline TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS state_changes (
    pipeline TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT,
    keys TEXT NOT NULL,
    changes TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (pipeline, version)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS state_changes_by_run ON state_changes (run_id)",
)


class StateFailed(RunFailed):
    """The state could not be read or its update could not be saved: the run fails."""


class StateConflict(StateFailed):
    """Another run changed a key this run changes, after this run read the state."""


@dataclass(frozen=True)
class Snapshot:
    """A pipeline's state as a run read it."""

    values: dict[str, Any]
    version: int  # 0: never updated


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ensure_tables(db: sqlite3.Connection) -> None:
    """Create the tables if they are missing (nothing is written when they exist)."""
    have = {
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('pipeline_state', 'state_changes')"
        )
    }
    if len(have) == 2:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in TABLES:
            db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class StateBackend(Protocol):
    """Where a run's state lives: the embedded database (``StateStore``) or PostgreSQL
    (``hookline.scale._pg_state.PgStateStore``). The run history that records a run
    names it (``_state_run``), so that the state commits with the run's final record."""

    @property
    def where(self) -> str:
        """The store, for messages (a path, or a URL without its password)."""
        ...

    def load(self, pipeline: str) -> Snapshot:
        """The pipeline's state and its version; raises StateFailed when unreadable."""
        ...

    def committer(
        self,
        pipeline: str,
        read_at: Snapshot,
        update: Mapping[str, Any],
        run_id: str,
        redact: Callable[[Any], Any],
    ) -> Callable[[Any], None]:
        """The action the history runs in the transaction of the run's final record, with
        its connection: merge ``update`` under the conflict rule (``merge``), or raise."""
        ...


class StateStore:
    """The state tables of one database. Each call opens its own connection and closes
    it: a run reads its state once (about 0.4 ms), and no connection outlives the
    thread that opened it."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT):
        self.path = Path(path)
        self._busy_timeout = busy_timeout

    @property
    def where(self) -> str:
        return str(self.path)

    def committer(
        self,
        pipeline: str,
        read_at: Snapshot,
        update: Mapping[str, Any],
        run_id: str,
        redact: Callable[[Any], Any],
    ) -> Callable[[sqlite3.Connection], None]:
        return committer(pipeline, read_at, update, run_id, redact)

    def db(self) -> sqlite3.Connection:
        """A new connection, the tables created; the caller closes it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            if new:  # the state holds real values: for the home's owner only
                os.chmod(self.path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            ensure_tables(db)
        except BaseException:
            db.close()
            raise
        return db

    def load(self, pipeline: str) -> Snapshot:
        """The pipeline's state and its version; raises StateFailed when unreadable."""
        try:
            with contextlib.closing(self.db()) as db:
                return read(db, pipeline)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StateFailed(f"cannot read the pipeline's state from {self.path}: {exc}") from exc

    def replace(
        self,
        pipeline: str,
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
        by: str,
    ) -> tuple[int, dict[str, Any]]:
        """Change the state by hand (``hookline state set|clear``): ``change(current)``
        gives the new state and what ``state_changes`` keeps of it, inside the write
        transaction, so that no run's update saved meanwhile is lost. Returns the new
        version and state."""
        with contextlib.closing(self.db()) as db:
            return self._replace(db, pipeline, change, by)

    def _replace(
        self,
        db: sqlite3.Connection,
        pipeline: str,
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
        by: str,
    ) -> tuple[int, dict[str, Any]]:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = read(db, pipeline)
            values, shown = change(current.values)
            # The keys whose value this changes: a run in flight that changes only
            # others keeps its update (the conflict rule).
            gone = {key: None for key in current.values if key not in values}
            keys = changed_keys(current.values, {**values, **gone})
            version = write(db, pipeline, current, values, keys, shown, by)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return version, values


def peek(path: Path, pipeline: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Read without writing (a reader must not need the write lock, nor create tables):
    a pipeline's state row and its last changes, or the change a run committed."""
    out: dict[str, Any] = {}
    args: tuple[Any, ...]
    if not path.exists():
        return out
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    try:
        tables = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE name IN ('pipeline_state', 'state_changes')"
            )
        }
        if len(tables) < 2:
            return out
        if pipeline is not None:
            row = db.execute(
                "SELECT version, value, updated_at, updated_by FROM pipeline_state"
                " WHERE pipeline = ?",
                (pipeline,),
            ).fetchone()
            if row is not None:
                out.update(
                    version=row[0], state=json.loads(row[1]), updated_at=row[2], updated_by=row[3]
                )
            where, args = "pipeline = ?", (pipeline,)
        else:
            where, args = "run_id = ?", (run_id,)
        rows = db.execute(
            "SELECT version, run_id, keys, changes, at FROM state_changes"
            f" WHERE {where} ORDER BY version DESC LIMIT 10",
            args,
        )
        out["changes"] = [
            {"version": v, "by": r, "keys": json.loads(k), "values": json.loads(c), "at": at}
            for v, r, k, c, at in rows
        ]
        return out
    finally:
        db.close()


def read(db: sqlite3.Connection, pipeline: str) -> Snapshot:
    row = db.execute(
        "SELECT version, value FROM pipeline_state WHERE pipeline = ?", (pipeline,)
    ).fetchone()
    if row is None:
        return Snapshot({}, 0)
    value = json.loads(row[1])
    return Snapshot(value if isinstance(value, dict) else {}, int(row[0]))


def write(
    db: sqlite3.Connection,
    pipeline: str,
    current: Snapshot,
    values: dict[str, Any],
    keys: list[str],
    shown: dict[str, Any],
    by: str | None,
) -> int:
    """Store ``values`` as version current + 1, noting ``keys`` as changed (inside the
    caller's transaction). Raises StateFailed when the state is too large."""
    text = encode(values)
    version = current.version + 1
    now = _now()
    db.execute(
        "INSERT INTO pipeline_state (pipeline, version, value, updated_at, updated_by)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pipeline) DO UPDATE SET version = excluded.version,"
        " value = excluded.value, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        (pipeline, version, text, now, by),
    )
    db.execute(
        "INSERT INTO state_changes (pipeline, version, run_id, keys, changes, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (pipeline, version, by, json.dumps(keys), json.dumps(shown, sort_keys=True), now),
    )
    db.execute(
        "DELETE FROM state_changes WHERE pipeline = ? AND version <= ?",
        (pipeline, version - CHANGES_KEPT),
    )
    return version


def encode(values: dict[str, Any]) -> str:
    """The state as the JSON text stored (ASCII); StateFailed when JSON cannot carry it or
    it is over MAX_STATE_BYTES."""
    try:
        text = json.dumps(values, allow_nan=False, sort_keys=True)
    except ValueError as exc:
        raise StateFailed("the state cannot hold NaN or Infinity, which JSON cannot carry") from exc
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_STATE_BYTES:
        raise StateFailed(
            f"the state update was not saved: the pipeline's state would take {size:,} bytes"
            f" as JSON, over the limit of {MAX_STATE_BYTES:,}"
        )
    return text


def changed_keys(before: Mapping[str, Any], update: Mapping[str, Any]) -> list[str]:
    """The keys ``update`` changes in ``before`` (null removes a key)."""
    out = []
    for key, value in update.items():
        if value is None:
            if key in before:
                out.append(key)
        elif key not in before or _same(before[key]) != _same(value):
            out.append(key)
    return sorted(out)


def _same(value: Any) -> str:
    # JSON's equality, not Python's: 1 and true differ, as do 1 and 1.0 in what is stored.
    return json.dumps(value, sort_keys=True, default=str)


Changes = list[tuple[int, "str | None", list[str]]]
"""(version, committed by, keys changed) of the versions after a run's read, in order."""


def merge(
    read_at: Snapshot,
    update: Mapping[str, Any],
    current: Snapshot,
    changes_since: Callable[[], Changes],
) -> tuple[dict[str, Any], list[str]] | None:
    """The conflict rule (docs/state.md), whatever the store: the state to write and the
    keys it changes, or None when nothing changes; raises StateConflict.

    ``current`` is the stored state read inside the writing transaction (locked, so no
    other writer commits in between); ``changes_since()`` gives what ``state_changes``
    still holds of the versions after ``read_at`` (asked only when there are some)."""
    mine = changed_keys(read_at.values, update)
    if current.version != read_at.version:
        rows = changes_since()
        known = {row[0] for row in rows}
        lost = set(range(read_at.version + 1, current.version + 1)) - known
        # A key the other run set to the value this run sets too loses nothing.
        disputed = set(changed_keys(current.values, {k: update[k] for k in mine}))
        for version, by, keys in rows:
            clash = sorted(disputed & set(keys))
            if clash:
                raise _conflict(clash, by, read_at.version, version)
        if lost and disputed:  # the record of those versions is gone: assume the worst
            raise _conflict(sorted(disputed), None, read_at.version, min(lost))
    # Only the keys this run changed from what it read: a key it left as it was must
    # not undo what an overlapping run saved meanwhile.
    mine_update = {key: update[key] for key in mine}
    new = {k: v for k, v in {**current.values, **mine_update}.items() if v is not None}
    keys = changed_keys(current.values, mine_update)
    return (new, keys) if keys else None


def committer(
    pipeline: str,
    read_at: Snapshot,
    update: Mapping[str, Any],
    run_id: str,
    redact: Callable[[Any], Any],
) -> Callable[[sqlite3.Connection], None]:
    """The action the history runs inside the transaction of the run's final record:
    merge ``update`` into the stored state under the conflict rule, or raise."""

    def commit(db: sqlite3.Connection) -> None:
        ensure_tables_in_transaction(db)
        current = read(db, pipeline)

        def since() -> Changes:
            rows = db.execute(
                "SELECT version, run_id, keys FROM state_changes"
                " WHERE pipeline = ? AND version > ? ORDER BY version",
                (pipeline, read_at.version),
            ).fetchall()
            return [(v, by, json.loads(keys)) for v, by, keys in rows]

        found = merge(read_at, update, current, since)
        if found is None:
            return  # nothing changes: no new version
        new, keys = found
        write(db, pipeline, current, new, keys, redact({k: update[k] for k in keys}), run_id)

    return commit


def ensure_tables_in_transaction(db: sqlite3.Connection) -> None:
    for statement in TABLES:
        db.execute(statement)


def _conflict(keys: list[str], by: str | None, read: int, version: int) -> StateConflict:
    names = ", ".join(f"'{k}'" for k in keys)
    who = f"run {by}" if by and not by.startswith("hookline ") else (by or "another run")
    return StateConflict(
        f"state conflict: {who} changed {names} (state version {version}) after this run "
        f"read the state (version {read}); this run's state update was not saved"
    )
