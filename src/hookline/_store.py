"""Run history in an embedded SQLite database (WAL mode; safe for concurrent runs).

Location: ``hookline.db`` in the hookline home (see ``_home``); ``--db`` moves it. What
arrives here is already redacted by the runtime.

The history is the record of a run, not its result: a database that is locked, full,
corrupt or unwritable costs one warning on stderr, then the history is off for the rest
of the run, and the run's output still reaches stdout. Nothing here raises at a run.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ._errors import UsageError
from ._history_json import history_json
from ._home import default_db
from ._model import Pipeline
from ._store_schema import (
    HEARTBEAT_SECONDS,
    HOST,
    RUN_STATUSES,
    SCHEMA_VERSION,
    NewerSchema,
    lost_reason,
    migrate,
)

__all__ = [
    "BUSY_TIMEOUT",
    "MAX_MB",
    "RESULT_LIMIT",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "Store",
    "default_path",
    "settings_from_env",
]

#: Characters of a run's input and output, and of a step's result, kept in the history.
RESULT_LIMIT = 64 * 1024
#: Seconds a write waits for another process holding the database (HOOKLINE_HISTORY_TIMEOUT).
BUSY_TIMEOUT = 30.0
#: Size cap of the history database in MiB (HOOKLINE_HISTORY_MAX_MB).
MAX_MB = 1024

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


class Store:
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
        self._heartbeat_seconds = heartbeat_seconds
        self._warn = warn
        self._busy_timeout = busy_timeout
        self._max_mb = max_mb
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._seq: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._live: set[str] = set()
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None
        with self._lock:
            try:
                self._db = self._connect()
                self._close_lost_runs(self._db)
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
            timeout=self._busy_timeout,
            check_same_thread=False,
            isolation_level=None,
        )
        try:
            if new:  # redacted, but it holds what APIs answered: for its owner only
                os.chmod(self.path, 0o600)
            db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
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

    def _guarded(self, action: Callable[[sqlite3.Connection], T]) -> T | None:
        with self._lock:
            if self._db is None:
                return None
            try:
                return action(self._db)
            except (sqlite3.Error, OSError) as exc:
                self._disable(exc)
                return None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self._guarded(lambda db: db.execute(sql, args))

    def close(self) -> None:
        self._stop.set()
        heart = self._heart
        if heart is not None and heart is not threading.current_thread():
            heart.join(timeout=self._busy_timeout + 1)
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, run_id: str) -> int:
        with self._lock:
            self._seq[run_id] = self._seq.get(run_id, 0) + 1
            return self._seq[run_id]

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
        self._write(
            "INSERT INTO runs (id, pipeline, file, digest, trigger, input, status, started_at,"
            " pid, host, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (
                run_id,
                pipeline.name,
                str(pipeline.file),
                pipeline.digest,
                trigger,
                history_json(input, RESULT_LIMIT),
                _now(),
                os.getpid(),
                HOST,
                time.time(),
            ),
        )
        self._start_heart()

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
    ) -> None:
        if not self.enabled:
            return
        self._write(
            "INSERT INTO steps (run_id, seq, step_id, status, duration_ms, result, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self._next(run_id),
                step_id,
                status,
                round(seconds * 1000, 1),
                history_json(result, RESULT_LIMIT),
                error,
            ),
        )

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        if not self.enabled:
            return
        # Bodies in an attempt are already cut by the connector that recorded them.
        self._write(
            "INSERT INTO attempts (run_id, seq, step_id, attempt, duration_ms, request,"
            " response, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self._next(run_id),
                step_id,
                attempt.get("attempt", 1),
                attempt.get("duration_ms"),
                history_json(attempt.get("request")),
                history_json(attempt.get("response")),
                attempt.get("error"),
            ),
        )

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        started = self._started.pop(run_id, None)
        with self._lock:
            self._live.discard(run_id)
            self._seq.pop(run_id, None)
        if not self.enabled:
            return
        duration = round((time.monotonic() - started) * 1000, 1) if started else None
        # Unconditional: a run a reader took for lost while it was suspended tells the truth.
        self._write(
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
