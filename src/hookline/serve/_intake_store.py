"""The ``deliveries`` table: every delivery ``hookline serve`` acknowledged, until run.

It lives in the run-history database (``hookline.db``, WAL), so a delivery, its runs and
the pipeline's state share one file and one backup. The input is kept here as it arrived,
not redacted (the history keeps only a redacted copy): a retry, a resumed run and
``hookline replay`` need the real one. The file is readable by its owner only.

Statuses (``DELIVERY_STATUSES``): ``queued`` → ``running`` → ``done``; a failed run goes
to ``retry-wait`` (until ``next_attempt_at``) or, after its last attempt, ``dead``; a run
cut short by a crash after a step that may have reached a server and may not be redone
goes to ``needs-attention``. Each attempt is a run of its own, listed in ``delivery_runs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from .._errors import UsageError

__all__ = [
    "COMMIT_TIMEOUT",
    "DURABILITY",
    "Durability",
    "connect",
    "dumps",
    "durability_from_env",
    "new_run_id",
]

Durability = Literal["process", "power"]
#: What an acknowledged delivery survives: ``process`` (default) a crash of the process,
#: ``power`` a power loss too (an fsync at every commit). HOOKLINE_DURABILITY.
DURABILITY: Durability = "process"
#: Seconds a commit waits for another writer of the database before the delivery is
#: refused with 503 (a webhook sender retries; a hung answer helps nobody).
COMMIT_TIMEOUT = 5.0

_SYNCHRONOUS = {"process": "NORMAL", "power": "FULL"}

TABLES = [
    """CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    pipeline TEXT NOT NULL,
    trigger TEXT NOT NULL,
    input TEXT,
    key TEXT,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_base INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_run TEXT,
    resume_run TEXT,
    claimed_pid INTEGER,
    claimed_host TEXT,
    heartbeat_at REAL,
    finished_at REAL,
    error TEXT
)""",
    # A key names one delivery per pipeline: a second delivery with it is a duplicate.
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_by_key ON deliveries (pipeline, key)"
    " WHERE key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries (status, id)",
    """CREATE TABLE IF NOT EXISTS delivery_runs (
    run_id TEXT PRIMARY KEY,
    delivery INTEGER NOT NULL,
    attempt INTEGER NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS delivery_runs_by_delivery ON delivery_runs (delivery, attempt)",
]

_POLL = 0.05  # SQLite waits this long for a lock; the caller's loop waits the rest


def durability_from_env(value: str | None = None) -> Durability:
    """``--durability`` / HOOKLINE_DURABILITY, checked."""
    text = (os.environ.get("HOOKLINE_DURABILITY", "") if value is None else value).strip()
    if not text:
        return DURABILITY
    if text not in _SYNCHRONOUS:
        raise UsageError(
            f"durability {text!r}: expected 'process' (survives a crash of hookline, the "
            "default) or 'power' (survives a power loss too; slower)"
        )
    return text  # type: ignore[return-value]


def new_run_id() -> str:
    return os.urandom(16).hex()


def dumps(value: Any) -> str:
    """A delivery's input as JSON text (ASCII: a lone surrogate cannot break the write)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def connect(
    path: Path, durability: Durability = DURABILITY, max_mb: float | None = None
) -> sqlite3.Connection:
    """A connection to the history database with the deliveries tables created.

    ``max_mb``: the database's size cap (default HOOKLINE_HISTORY_MAX_MB, as the history's):
    deliveries past it are refused (503) instead of filling the disk. A database that
    cannot be opened raises UsageError, worded for the user (exit 2)."""
    from .._store_schema import NewerSchema

    try:
        return _open(path, durability, max_mb)
    except NewerSchema as exc:
        reason = f"it was written by a newer hookline (schema {exc.args[0]})"
    except FileExistsError:  # from mkdir: the parent is a file
        reason = f"{path.parent} is a file, not a directory"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except sqlite3.Error as exc:
        reason = str(exc)
        if is_busy(exc):
            reason = f"it is locked by another process ({reason})"
    raise UsageError(f"{path}: cannot open the delivery queue: {reason}")


def _open(path: Path, durability: Durability, max_mb: float | None) -> sqlite3.Connection:
    from .._store import settings_from_env
    from .._store_schema import migrate

    if max_mb is None:
        max_mb = settings_from_env()["max_mb"]

    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    db = sqlite3.connect(path, timeout=_POLL, check_same_thread=False, isolation_level=None)
    try:
        if new:  # it will hold inputs as they arrived: for its owner only
            os.chmod(path, 0o600)
        db.execute(f"PRAGMA busy_timeout={int(_POLL * 1000)}")
        patiently(lambda: db.execute("PRAGMA journal_mode=WAL"), COMMIT_TIMEOUT * 6)
        db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[durability]}")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={max(1, int(max_mb * 1024 * 1024 // page))}")
        patiently(lambda: migrate(db), COMMIT_TIMEOUT * 6)
        patiently(lambda: _create(db), COMMIT_TIMEOUT * 6)
    except BaseException:
        db.close()
        raise
    return db


def _create(db: sqlite3.Connection) -> None:
    have = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('deliveries', 'delivery_runs')"
    ).fetchone()[0]
    if have == 2:
        return  # nothing to write: a reader of a busy database needs no write lock
    with transaction(db):
        for statement in TABLES:
            db.execute(statement)


def is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def patiently(action: Any, timeout: float) -> Any:
    """``action()``, tried again while another connection holds the write lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_POLL / 5)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Any:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def find_delivery(db: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """The delivery one of whose runs is ``run_id``."""
    found = rows(
        db.execute(
            "SELECT d.* FROM deliveries d WHERE d.run_id = ?"
            " UNION SELECT d.* FROM deliveries d JOIN delivery_runs r ON r.delivery = d.id"
            " WHERE r.run_id = ? LIMIT 1",
            (run_id, run_id),
        )
    )
    return found[0] if found else None


def delivery_input(row: Mapping[str, Any]) -> Any:
    text = row.get("input")
    return None if text is None else json.loads(text)
