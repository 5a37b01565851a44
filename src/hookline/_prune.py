"""``hookline runs prune``: delete old runs from the history, so it does not grow forever.

Which runs go (``Retention``): those that started more than ``keep_days`` days ago, and
those past the ``keep_runs`` newest of their pipeline; ``0`` turns a rule off. Defaults:
``HOOKLINE_KEEP_DAYS`` (30) and ``HOOKLINE_KEEP_RUNS`` (0: no limit by count); the flags
of ``runs prune`` override them. Never deleted: a run still ``running``, and a run that
an unfinished ``serve`` delivery will resume or retry.

A run goes with everything recorded under it (steps, requests, iterations, checkpoints),
a few hundred runs per transaction so that a live ``serve`` or ``run-pipeline`` waits for
the database only briefly. Compressed blocks no run refers to any more go too. Stored
headers and bodies (``blobs``) are shared by content between runs, and a process writing
the history remembers the ids of those it stored: they are swept only when no such
process holds the database (``_locks.history_alone``); otherwise prune says so and leaves them for a
later prune. ``VACUUM`` (``--vacuum``) then gives the freed pages back to the disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import _store_schema
from ._errors import UsageError
from ._locks import history_alone
from ._store_schema import migrate

KEEP_DAYS = 30
KEEP_RUNS = 0
#: Runs deleted per transaction.
BATCH = 500
#: The schema version whose tables this module knows (see the test that guards it).
KNOWN_SCHEMA = 4

# Tables holding a run's records, by the run's rowid (``run``) or its id (``run_id``).
_BY_ROWID = (
    "steps",
    "attempts",
    "iterations",
    "step_records",
    "attempt_records",
    "iteration_records",
)
_BY_ID = ("steps", "attempts", "checkpoints")
_RECORDS = ("step_records", "attempt_records", "iteration_records")
# Bits of a record's ``texts`` reference that number its member in a block (schema 4).
MEMBER_BITS = int(getattr(_store_schema, "MEMBER_BITS", 12))
_UNFINISHED = "('queued', 'running', 'retry-wait', 'needs-attention')"


@dataclass(frozen=True)
class Retention:
    keep_days: int = KEEP_DAYS  # 0: no limit by age
    keep_runs: int = KEEP_RUNS  # 0: no limit by count (per pipeline)
    pipeline: str | None = None


def _count(name: str, flag: str, given: int | None, env: Mapping[str, str], default: int) -> int:
    if given is not None:
        value, source = given, flag
    else:
        text = env.get(name, "").strip()
        if not text:
            return default
        source = name
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"{name}={text!r}: expected a whole number of 0 or more") from None
    if value < 0:
        raise UsageError(f"{source} {value}: expected a whole number of 0 or more (0: no limit)")
    return value


def retention(
    keep_days: int | None = None,
    keep_runs: int | None = None,
    pipeline: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Retention:
    """The retention asked for: flags first, then HOOKLINE_KEEP_DAYS / _RUNS, then defaults."""
    env = os.environ if env is None else env
    return Retention(
        keep_days=_count("HOOKLINE_KEEP_DAYS", "--keep-days", keep_days, env, KEEP_DAYS),
        keep_runs=_count("HOOKLINE_KEEP_RUNS", "--keep-runs", keep_runs, env, KEEP_RUNS),
        pipeline=pipeline,
    )


@dataclass
class Pruned:
    runs: int = 0  # deleted (or, in a dry run, to delete)
    kept: int = 0
    blocks: int = 0
    blobs: int = 0
    blobs_swept: bool = False
    bytes_before: int = 0
    bytes_after: int = 0


def _tables(db: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: {c[1] for c in db.execute(f'PRAGMA table_info("{n}")')} for n in names}


def _doomed(db: sqlite3.Connection, rule: Retention, now: datetime) -> list[tuple[int, str]]:
    """(rowid, id) of every run the rule deletes, oldest first."""
    where = ["status != 'running'"]
    params: list[object] = []
    if rule.pipeline is not None:
        where.append("pipeline = ?")
        params.append(rule.pipeline)
    old: list[str] = []
    if rule.keep_days:
        cutoff = (now - timedelta(days=rule.keep_days)).strftime("%Y-%m-%dT%H:%M:%S")
        old.append("started_at < ?")
        params.append(cutoff)
    if rule.keep_runs:
        old.append("rank > ?")
        params.append(rule.keep_runs)
    if not old:
        return []
    tables = _tables(db)
    if "deliveries" in tables:  # a run serve will resume or retry stays
        where.append(
            "id NOT IN (SELECT run_id FROM deliveries WHERE status IN "
            f"{_UNFINISHED} UNION SELECT last_run FROM deliveries WHERE status IN "
            f"{_UNFINISHED} AND last_run IS NOT NULL UNION SELECT resume_run FROM "
            f"deliveries WHERE status IN {_UNFINISHED} AND resume_run IS NOT NULL)"
        )
    query = (
        "SELECT rowid, id FROM (SELECT rowid, id, status, pipeline, started_at, "
        "row_number() OVER (PARTITION BY pipeline ORDER BY started_at DESC, rowid DESC) "
        f"AS rank FROM runs) WHERE {' AND '.join(where)} AND ({' OR '.join(old)}) "
        "ORDER BY started_at, rowid"
    )
    # The filters bind in the order they appear: pipeline, then cutoff and rank.
    return [(int(r[0]), str(r[1])) for r in db.execute(query, params)]


def _delete_runs(db: sqlite3.Connection, runs: list[tuple[int, str]]) -> None:
    tables = _tables(db)
    for start in range(0, len(runs), BATCH):
        chunk = runs[start : start + BATCH]
        rowids = [r for r, _ in chunk]
        ids = [i for _, i in chunk]
        marks = ",".join("?" * len(chunk))
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in _BY_ROWID:
                if "run" in tables.get(table, ()):
                    db.execute(f"DELETE FROM {table} WHERE run IN ({marks})", rowids)
            for table in _BY_ID:
                if "run_id" in tables.get(table, ()):
                    db.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
            db.execute(f"DELETE FROM runs WHERE rowid IN ({marks})", rowids)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _block_refs(tables: dict[str, set[str]]) -> str | None:
    # NULLs left out: one NULL in a NOT IN list makes it match nothing at all.
    parts = [
        f"SELECT texts >> {MEMBER_BITS} FROM {t} WHERE texts IS NOT NULL"
        for t in _RECORDS
        if t in tables
    ]
    return " UNION ".join(parts) if parts else None


def _sweep_blocks(db: sqlite3.Connection) -> int:
    """Delete blocks no record refers to: a writer never refers to an old block again."""
    tables = _tables(db)
    refs = _block_refs(tables)
    if "blocks" not in tables or refs is None:
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        gone = db.execute(f"DELETE FROM blocks WHERE id NOT IN ({refs})").rowcount
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return gone


def _ints(value: object) -> Iterable[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _ints(item)


def _referenced_blobs(db: sqlite3.Connection) -> set[int]:
    """Every blob id some remaining row refers to, and ints that only look like one in a
    block's records (keeping a blob too many is harmless; deleting one in use is not)."""
    from ._store_block import unpack

    tables = _tables(db)
    keep: set[int] = set()
    for column in ("req_headers", "resp_headers", "req_body", "resp_body"):
        if column in tables.get("attempts", ()):
            sql = f"SELECT {column} FROM attempts WHERE typeof({column}) = 'integer'"
            keep.update(int(r[0]) for r in db.execute(sql))
    if "result_blob" in tables.get("steps", ()):
        keep.update(
            int(r[0]) for r in db.execute("SELECT result_blob FROM steps WHERE result_blob > 0")
        )
    refs = _block_refs(tables)
    if refs is not None and "blocks" in tables:
        for (data,) in db.execute(f"SELECT data FROM blocks WHERE id IN ({refs})"):
            for member in unpack(data):
                try:
                    keep.update(_ints(json.loads(member)))
                except ValueError:
                    continue
    return keep


def _sweep_blobs(db: sqlite3.Connection) -> int:
    if "blobs" not in _tables(db):
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        keep = _referenced_blobs(db)
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_keep (id INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM prune_keep")
        db.executemany("INSERT OR IGNORE INTO prune_keep VALUES (?)", ((i,) for i in keep))
        while db.execute(  # a kept blob's dictionary (``base``) is kept too
            "INSERT OR IGNORE INTO prune_keep SELECT base FROM blobs WHERE base IS NOT NULL"
            " AND id IN (SELECT id FROM prune_keep)"
        ).rowcount:
            pass
        gone = db.execute("DELETE FROM blobs WHERE id NOT IN (SELECT id FROM prune_keep)").rowcount
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return gone


def _size(db: sqlite3.Connection) -> int:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * db.execute("PRAGMA page_size").fetchone()[0])


def prune(
    path: Path,
    rule: Retention,
    *,
    dry_run: bool = False,
    vacuum: bool = False,
    now: datetime | None = None,
    busy_timeout: float = 30.0,
    say: Callable[[str], None] = lambda _: None,
) -> Pruned:
    """Apply ``rule`` to the history at ``path``; the database is migrated first."""
    db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        db.execute("PRAGMA journal_mode=WAL")
        migrate(db)
        result = Pruned(bytes_before=_size(db))
        doomed = _doomed(db, rule, now or datetime.now(UTC))
        result.runs = len(doomed)
        result.kept = db.execute("SELECT count(*) FROM runs").fetchone()[0] - len(doomed)
        if dry_run:
            result.bytes_after = result.bytes_before
            return result
        _delete_runs(db, doomed)
        result.blocks = _sweep_blocks(db)
        with history_alone(path) as alone:
            if alone:
                result.blobs = _sweep_blobs(db)
                result.blobs_swept = True
        if vacuum:
            say("vacuuming the database (it is locked until this ends)")
            started = time.monotonic()
            db.execute("VACUUM")
            say(f"vacuumed in {time.monotonic() - started:.1f}s")
        result.bytes_after = _size(db)
        return result
    finally:
        db.close()
