"""Run history in an embedded SQLite database (WAL mode; safe for concurrent runs).

A run's start and final status are written at once; its step, iteration and request
records go through one writer thread in batches (``_history_writer``: the loss window of
a killed process is documented there), all flushed before the final status.

Location: ``hookline.db`` in the hookline home (see ``_home``); ``--db`` moves it. What
arrives here is already redacted by the runtime.

The history is the record of a run, not its result: a database that is locked, full,
corrupt or unwritable costs one warning on stderr, then the history is off for the rest
of the run, and the run's output still reaches stdout. Nothing here raises at a run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ._errors import UsageError
from ._history_json import history_json
from ._history_writer import Writer
from ._home import default_db
from ._locks import HistoryShare
from ._model import Pipeline
from ._store_queue import RecordQueue
from ._store_rows import ITEM_LIMIT, RESULT_LIMIT, RowWriter
from ._store_schema import (
    HEARTBEAT_SECONDS,
    RUN_STATUSES,
    SCHEMA_VERSION,
    NewerSchema,
    host,
    lost_reason,
    migrate,
)

__all__ = [
    "BUSY_TIMEOUT",
    "ITEM_LIMIT",
    "MAX_MB",
    "RESULT_LIMIT",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "HistoryOff",
    "Store",
    "default_path",
    "settings_from_env",
]

#: Seconds a write waits for another process holding the database (HOOKLINE_HISTORY_TIMEOUT).
BUSY_TIMEOUT = 30.0
#: Size cap of the history database in MiB (HOOKLINE_HISTORY_MAX_MB).
MAX_MB = 1024
#: Bytes of write-ahead log a closing store leaves beside the database; a longer log is
#: folded into the database and emptied.
WAL_KEEP = 1024 * 1024

default_path = default_db  # the name earlier callers import

T = TypeVar("T")


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, float]:
    """``busy_timeout`` and ``max_mb`` from HOOKLINE_HISTORY_TIMEOUT / _MAX_MB."""
    env = os.environ if env is None else env
    out = {"busy_timeout": BUSY_TIMEOUT, "max_mb": float(MAX_MB)}
    for name, key in (
        ("HOOKLINE_HISTORY_TIMEOUT", "busy_timeout"),
        ("HOOKLINE_HISTORY_MAX_MB", "max_mb"),
    ):
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"{name}={text!r}: expected a number >= 0")
        out[key] = value
    return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _warn_stderr(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)


_POLL = 0.05  # seconds SQLite waits for a lock before hookline checks signals and retries


class Store(RecordQueue):
    """The run history, written by one process; also the Recorder the runtime reports to.

    ``warn`` receives the one warning given when the history has to be turned off.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        warn: Callable[[str], None] = _warn_stderr,
        busy_timeout: float = BUSY_TIMEOUT,
        max_mb: float = MAX_MB,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.path = Path(path)
        # Held while this store may write: `runs prune` sweeps shared texts only when no
        # writer holds one (a writer refers again to the text ids it remembers).
        self._share = HistoryShare(self.path)
        self._heartbeat_seconds = heartbeat_seconds
        self._warn = warn
        self._busy_timeout = busy_timeout
        self._max_mb = max_mb
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._seq: dict[str, Iterator[int]] = {}
        self._writer: Writer | None = None
        self._local = threading.local()  # the last answer recorded on this thread
        self._rowids: dict[str, int] = {}
        self._rows = RowWriter()  # the writer thread's caches
        self._started: dict[str, float] = {}
        self._live: set[str] = set()
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None
        with self._lock:
            try:
                self._db = self._patiently(self._connect)
                self._patiently(lambda: self._close_lost_runs(self._db))  # type: ignore[arg-type]
            except (sqlite3.Error, OSError, NewerSchema) as exc:
                self._disable(exc)

    @property
    def enabled(self) -> bool:
        """False once a write failed: the rest of the run keeps no history."""
        return self._db is not None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        db = sqlite3.connect(
            self.path,
            timeout=_POLL,
            check_same_thread=False,
            isolation_level=None,
        )
        try:
            if new:  # redacted, but it holds what APIs answered: for its owner only
                os.chmod(self.path, 0o600)
            db.execute(f"PRAGMA busy_timeout={int(_POLL * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            page = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={max(1, int(self._max_mb * 1024 * 1024 // page))}")
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _close_lost_runs(self, db: sqlite3.Connection) -> None:
        """Mark runs whose process died as lost, so the history stops saying running."""
        cursor = db.execute("SELECT * FROM runs WHERE status = 'running'")
        names = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            run = dict(zip(names, row, strict=True))
            reason = lost_reason(run)
            if reason is not None:
                db.execute(
                    "UPDATE runs SET status = 'lost', error = ?"
                    " WHERE id = ? AND status = 'running'",
                    (f"lost: {reason}", run["id"]),
                )

    def _disable(self, exc: BaseException) -> None:
        if isinstance(exc, NewerSchema):
            reason = f"it was written by a newer hookline (schema {exc.args[0]})"
        elif isinstance(exc, FileExistsError):  # from mkdir: the parent is a file
            reason = f"{self.path.parent} is a file, not a directory"
        elif isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            if exc.filename and os.fspath(exc.filename) != os.fspath(self.path):
                reason += f": {exc.filename}"
        else:
            reason = str(exc)
            name = getattr(exc, "sqlite_errorname", "")
            if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
                reason += f" (held by another process for over {self._busy_timeout:g}s)"
            elif name == "SQLITE_FULL":
                reason += (
                    f" (the disk is full or the history reached its cap of {self._max_mb:g} MiB,"
                    " HOOKLINE_HISTORY_MAX_MB)"
                )
        db, self._db = self._db, None
        self._stop.set()
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._warn(
            f"run history off for this run: {self.path}: {reason}; the run goes on and its "
            "output is not affected"
        )

    def _patiently(self, action: Callable[[], T]) -> T:
        """``action()``, tried again while another process holds the database, for up to
        the busy timeout. SQLite itself waits only ``_POLL`` seconds at a time and the rest
        of the wait is a Python sleep: a signal handler cannot run while SQLite waits, and
        SIGTERM must stop a run at once, not after 30 s."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                name = getattr(exc, "sqlite_errorname", "")
                busy = name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(_POLL)

    def _guarded(self, action: Callable[[sqlite3.Connection], T]) -> T | None:
        with self._lock:
            db = self._db
            if db is None:
                return None
            try:
                return self._patiently(lambda: action(db))
            except (sqlite3.Error, OSError) as exc:
                self._disable(exc)
                return None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self._guarded(lambda db: db.execute(sql, args))

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop(self._busy_timeout + 5)
        self._stop.set()
        heart = self._heart
        if heart is not None and heart is not threading.current_thread():
            heart.join(timeout=self._busy_timeout + 1)
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            # The last connection to close folds the write-ahead log into the database and
            # deletes it; another connection of this process may still be open (state,
            # checkpoints), so a long log is emptied here, not left beside the database.
            # A short one is left: folding it costs a sync (about 10 ms) on every run.
            with contextlib.suppress(sqlite3.Error, OSError):
                wal = self.path.with_name(self.path.name + "-wal")
                if wal.stat().st_size > WAL_KEEP:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
        self._share.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, run_id: str) -> int:
        counter = self._seq.get(run_id)
        if counter is None:
            counter = self._seq.setdefault(run_id, itertools.count(1))
        return next(counter)  # atomic: concurrent iterations get distinct numbers

    # --- heartbeat ----------------------------------------------------------------

    def _beat(self) -> None:
        """Every HEARTBEAT_SECONDS, stamp the live runs (and take back a run that a
        reader marked lost while this process was suspended)."""
        while not self._stop.wait(self._heartbeat_seconds):
            with self._lock:
                ids = sorted(self._live)
            if not ids:
                continue
            marks = ", ".join("?" * len(ids))
            self._write(
                f"UPDATE runs SET heartbeat_at = ?, status = 'running', error = NULL"
                f" WHERE id IN ({marks}) AND status IN ('running', 'lost')",
                (time.time(), *ids),
            )

    def _start_heart(self) -> None:
        with self._lock:
            if self._heart is None and self._db is not None:
                self._heart = threading.Thread(
                    target=self._beat, name="hookline-history-heartbeat", daemon=True
                )
                self._heart.start()

    # --- Recorder -----------------------------------------------------------------

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        self._started[run_id] = time.monotonic()
        with self._lock:
            self._live.add(run_id)
        row = (
            run_id,
            pipeline.name,
            str(pipeline.file),
            pipeline.digest,
            trigger,
            history_json(input, RESULT_LIMIT),
            _now(),
            os.getpid(),
            host(),
            time.time(),
        )
        found = self._guarded(
            lambda db: db.execute(
                "INSERT INTO runs (id, pipeline, file, digest, trigger, input, status,"
                " started_at, pid, host, heartbeat_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
                # A run resumed after a crash keeps its id (serve's intake fixed it):
                # its record is running again, in this process.
                " ON CONFLICT (id) DO UPDATE SET status = 'running', finished_at = NULL,"
                " duration_ms = NULL, output = NULL, error = NULL, pid = excluded.pid,"
                " host = excluded.host, heartbeat_at = excluded.heartbeat_at"
                " RETURNING rowid, started_at",
                row,
            ).fetchone()
        )
        if found is not None:
            self._rowids[run_id] = found[0]
            if found[1] != row[6]:  # resumed: its records go on after those already kept
                self._seq[run_id] = itertools.count(self._last_seq(found[0]) + 1)
        self._start_heart()

    def _last_seq(self, rowid: int) -> int:
        """The highest record number a run already has (a run resumed after a crash)."""
        last = self._guarded(
            lambda db: db.execute(
                "SELECT max(seq) FROM (SELECT max(seq) AS seq FROM step_records WHERE run = ?"
                " UNION ALL SELECT max(seq) FROM attempt_records WHERE run = ?"
                " UNION ALL SELECT max(seq) FROM iteration_records WHERE run = ?)",
                (rowid, rowid, rowid),
            ).fetchone()[0]
        )
        return int(last or 0)

    def _ref(self, run_id: str) -> int | str:
        """How the run's records name it: its rowid (short), else its id."""
        return self._rowids.get(run_id, run_id)

    def _queue(self, record: tuple[Any, ...], size: int) -> None:
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None and self._db is not None:
                    self._writer = Writer(self._write_batch)
                writer = self._writer
        if writer is not None and self._db is not None:
            writer.put(record, size)

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        """In the writer thread: one transaction for the batch, under the write guard."""

        def write(db: sqlite3.Connection) -> None:
            self._rows.write(db, batch)

        try:
            self._guarded(write)
        except Exception as exc:  # a bug must not leave the run waiting on a dead writer
            with self._lock:
                if self._db is not None:
                    self._disable(exc)

    def flush(self) -> None:
        """Wait until every batched record is written (or the history is off)."""
        writer = self._writer
        if writer is not None:
            writer.flush(self._busy_timeout + 5)

    def run_finished(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        *,
        commit: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Write the run's final record. With ``commit`` (a pipeline's state update), run
        ``commit(db)`` and the record in one transaction: either both are written, or
        neither and this raises (what ``commit`` raised, or ``HistoryOff``)."""
        started = self._started.pop(run_id, None)
        # The final status is written only once every record of the run is: a run shown
        # as finished has all its steps and requests.
        self.flush()
        try:
            self._final_record(run_id, status, output, error, started, commit)
        except BaseException:
            # Not written: the run goes on (its on_failure steps) and ends again, so its
            # record keeps its numbering.
            if started is not None:
                self._started[run_id] = started
            raise
        with self._lock:
            self._live.discard(run_id)
        self._seq.pop(run_id, None)
        self._rowids.pop(run_id, None)

    def _final_record(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        started: float | None,
        commit: Callable[[sqlite3.Connection], None] | None,
    ) -> None:
        if not self.enabled:
            if commit is not None:
                raise HistoryOff(f"the run history at {self.path} is off for this run")
            return
        duration = round((time.monotonic() - started) * 1000, 1) if started else None
        # Unconditional: a run a reader took for lost while it was suspended tells the truth.
        (self._write if commit is None else self._with(commit))(
            "UPDATE runs SET status = ?, finished_at = ?, duration_ms = ?, output = ?,"
            " error = ?, heartbeat_at = ? WHERE id = ?",
            (
                status,
                _now(),
                duration,
                history_json(output, RESULT_LIMIT),
                error,
                time.time(),
                run_id,
            ),
        )

    def _with(
        self, commit: Callable[[sqlite3.Connection], None]
    ) -> Callable[[str, tuple[Any, ...]], None]:
        """A ``_write`` that runs ``commit(db)`` first, in the same transaction."""

        def write(sql: str, args: tuple[Any, ...]) -> None:
            def action(db: sqlite3.Connection) -> None:
                db.execute("BEGIN IMMEDIATE")
                try:
                    commit(db)
                    db.execute(sql, args)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

            with self._lock:
                db = self._db
                if db is None:
                    raise HistoryOff(f"the run history at {self.path} is off for this run")
                try:
                    self._patiently(lambda: action(db))
                except (sqlite3.Error, OSError) as exc:
                    self._disable(exc)
                    raise HistoryOff(f"the run history at {self.path} failed: {exc}") from exc

        return write


class HistoryOff(Exception):
    """``run_finished`` with a ``commit`` could not write the run's final record."""
