"""The run history's tables, their migrations, the statuses a run can hold, and the rule
that tells a live run from one whose process died.

Schema versions (``PRAGMA user_version``):

1. runs, steps, attempts.
2. runs gain ``pid``, ``host`` and ``heartbeat_at`` so a run whose process died is shown
   as ``lost`` instead of ``running`` forever.
3. rows of steps, attempts and iterations name their run by the run's rowid (``run``;
   ``run_id`` is then empty); each ``for_each`` iteration is a row of ``iterations``;
   steps and attempts name the iteration they ran in (``loop_step``, ``loop_index``);
   attempts keep headers and bodies in ``blobs`` by content hash (``req_headers``,
   ``resp_headers``, ``req_body``, ``resp_body``: a blob id, or a short body inline); a
   long step result is a blob (``steps.result_blob``), and a result that is exactly the
   step's last answer is not stored again (``result_blob`` -1 or -2). A blob with a
   ``base`` is compressed with that blob's text as zlib dictionary (see ``_blobs``). Rows
   written before version 3 keep their old form and are read as they were.
4. new records go to ``step_records``, ``attempt_records`` and ``iteration_records``:
   small rows keyed by (run rowid, seq) WITHOUT ROWID (the key is the table: no index
   per row), names (step ids, statuses) as ids of ``names``, durations as integer tenths
   of a millisecond, and every text of a record in one JSON array (``texts``) that is a
   member of a zlib-compressed ``blocks`` row: the writer compresses each batch's texts
   together (see ``_store_block``). Texts of ``BLOB_MIN`` characters or more, and header
   sets, stay content-addressed in ``blobs``. A new database has only these tables; an
   older one keeps its old tables, read as before, and gains the new ones.

The same database holds the tables of the components that need to commit with a run's
record or survive a crash; each component creates its own (``CREATE TABLE IF NOT EXISTS``,
in one transaction) when it first opens the database, so that a cron user's history never
gains tables it does not use, and an older database gains them on first use:
``pipeline_state`` and ``state_changes`` (``_state``), ``checkpoints`` (``_checkpoint``),
``deliveries`` and ``delivery_runs`` (``serve._intake_store``), ``schedule_fires``
(``serve._scheduler``). Each is additive: no column of a table above changes for them.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 4

#: Every status a run can hold in the history, in the order the docs list them.
RUN_STATUSES = (
    "running",
    "succeeded",
    "failed",
    "interrupted",
    "lost",
    "dry-run",
    "needs-attention",
    "dead",  # the last attempt of a serve delivery's run-level retry (docs/intake.md)
)

#: A live run's process refreshes ``heartbeat_at`` this often (seconds).
HEARTBEAT_SECONDS = 10.0
#: A running run whose last sign of life is older than this (seconds) is lost.
STALE_SECONDS = 60.0

_RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    file TEXT NOT NULL,
    digest TEXT NOT NULL,
    trigger TEXT NOT NULL,
    input TEXT,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms REAL,
    output TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    heartbeat_at REAL
)"""
_RUN_INDEXES = [
    "CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, started_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)",
]
# The record tables of versions 1 to 3 (kept in databases that have them, never created).
_REST = [
    """CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL,
    result TEXT,
    error TEXT
)""",
    """CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    duration_ms REAL,
    request TEXT,
    response TEXT,
    error TEXT
)""",
    # Version 3. ``loop_step``/``loop_index``: the for_each iteration around this one.
    """CREATE TABLE IF NOT EXISTS iterations (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL,
    item TEXT,
    output TEXT,
    error TEXT,
    loop_step TEXT,
    loop_index INTEGER
)""",
    "CREATE INDEX IF NOT EXISTS iterations_by_run ON iterations (run, step_id, idx)",
]
_BLOBS = [
    # Content-addressed: 100k requests with the same headers keep one copy of them.
    """CREATE TABLE IF NOT EXISTS blobs (
    id INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL,
    base INTEGER
)""",
]
_ADDED_IN_2 = {"runs": (("pid", "INTEGER"), ("host", "TEXT"), ("heartbeat_at", "REAL"))}
_ADDED_IN_3 = {
    "steps": (
        ("run", "INTEGER"),
        ("loop_step", "TEXT"),
        ("loop_index", "INTEGER"),
        ("result_blob", "INTEGER"),
    ),
    "attempts": (
        ("run", "INTEGER"),
        ("loop_step", "TEXT"),
        ("loop_index", "INTEGER"),
        ("req_headers", "INTEGER"),
        ("resp_headers", "INTEGER"),
        ("req_body", ""),  # a blob id, or the body itself when it is short
        ("resp_body", ""),
    ),
}


# Rows since version 3 name their run by its rowid in ``run`` (run_id is ''): a 32-character
# id repeated in every row and index entry was most of what a request cost.
_INDEXES = [
    "DROP INDEX IF EXISTS steps_by_run",
    "DROP INDEX IF EXISTS attempts_by_run",
    "CREATE INDEX IF NOT EXISTS steps_by_run_id ON steps (run_id, seq) WHERE run_id != ''",
    "CREATE INDEX IF NOT EXISTS steps_by_run ON steps (run, seq) WHERE run IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS attempts_by_run_id ON attempts (run_id, seq) WHERE run_id != ''",
    "CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts (run, seq) WHERE run IS NOT NULL",
]


# Version 4: one small row per record, keyed by (run, seq) so that the table is its own
# index; ``texts`` names a member of a ``blocks`` row (``block << MEMBER_BITS | index``).
_V4 = [
    """CREATE TABLE IF NOT EXISTS names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
)""",
    """CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS step_records (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    status INTEGER NOT NULL,
    tenths INTEGER,
    same INTEGER,
    texts INTEGER,
    loop INTEGER,
    loop_index INTEGER,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS attempt_records (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    tenths INTEGER,
    texts INTEGER,
    loop INTEGER,
    loop_index INTEGER,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS iteration_records (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    status INTEGER NOT NULL,
    tenths INTEGER,
    texts INTEGER,
    loop INTEGER,
    loop_index INTEGER,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID""",
]
#: Bits of a ``texts`` reference that number the member inside its block.
MEMBER_BITS = 12


class NewerSchema(Exception):
    """The database was written by a newer hookline."""


def migrate(db: sqlite3.Connection) -> None:
    """Create the tables, or bring an older database up to SCHEMA_VERSION.

    One IMMEDIATE transaction, so two processes opening an old database at once do not
    both add the columns. Nothing is written when the database is already current: a
    reader of a locked database must not need the write lock.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchema(version)
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            if 1 <= version <= 3:  # the tables of earlier versions keep their rows
                _upgrade_legacy(db)
            db.execute(_RUNS)
            for statement in _RUN_INDEXES + _BLOBS + _V4:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _upgrade_legacy(db: sqlite3.Connection) -> None:
    """Bring the tables of a version 1-3 database to their version 3 form: its rows stay
    where they are and are read as they were."""
    db.execute(_RUNS)
    for statement in _RUN_INDEXES + _REST + _BLOBS:
        db.execute(statement)
    for added in (_ADDED_IN_2, _ADDED_IN_3):
        for table, columns in added.items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}".rstrip())
    for statement in _INDEXES:
        db.execute(statement)


@functools.cache
def host() -> str:
    """This machine's name, as runs record it (socket is imported only when asked)."""
    import socket

    return socket.gethostname()


def __getattr__(name: str) -> str:
    if name == "HOST":  # the name earlier modules import
        return host()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pid_gone(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, run by another user
        return False
    return False


def _started_epoch(started_at: str) -> float | None:
    try:
        return (
            datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        )
    except (TypeError, ValueError):
        return None


def lost_reason(run: dict[str, Any], now: float | None = None) -> str | None:
    """Why a run recorded as ``running`` is in fact lost, or None while it may be alive.

    Lost when its process is gone from this host, or when its last heartbeat (else its
    start, for runs recorded before heartbeats existed) is older than STALE_SECONDS.
    """
    if run.get("status") != "running":
        return None
    pid, where = run.get("pid"), run.get("host")
    if pid is not None and where == host() and _pid_gone(int(pid)):
        return f"its process (pid {pid} on {where}) ended without closing the run"
    now = time.time() if now is None else now
    beat = run.get("heartbeat_at")
    seen = float(beat) if beat is not None else _started_epoch(run.get("started_at", ""))
    if seen is not None and now - seen > STALE_SECONDS:
        who = f" (pid {pid} on {where})" if pid is not None else ""
        return f"no sign of life from its process{who} for {now - seen:.0f}s"
    return None
