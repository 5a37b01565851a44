"""Run history in an embedded SQLite database (WAL mode; safe for concurrent runs).

Default location: ``.hookline/hookline.db`` in the working directory; ``HOOKLINE_HOME``
or ``--db`` move it. What arrives here is already redacted by the runtime.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import UsageError
from ._model import Pipeline

SCHEMA_VERSION = 1
_TABLES = """
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
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_ms REAL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS steps_by_run ON steps (run_id, seq);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    duration_ms REAL,
    request TEXT,
    response TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts (run_id, seq);
"""
RESULT_LIMIT = 64 * 1024


def default_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = env.get("HOOKLINE_HOME")
    base = Path(home) if home else Path.cwd() / ".hookline"
    return base / "hookline.db"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _json(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, default=str)
    if limit is not None and len(text) > limit:
        return json.dumps({"truncated": True, "bytes": len(text), "start": text[:limit]})
    return text


class Store:
    """The run history; also the Recorder the runtime reports to."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            if new:  # redacted, but it holds what APIs answered: for its owner only
                os.chmod(self.path, 0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"{self.path}: run history written by a newer hookline (schema {version})"
                )
            self._db.executescript(_TABLES)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path}: cannot open the run history: {exc}") from None
        except OSError as exc:
            raise UsageError(
                f"{self.path}: cannot open the run history: {exc.strerror}; point "
                "HOOKLINE_HOME or --db at a writable place"
            ) from None
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        self._started: dict[str, float] = {}

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def _next(self, run_id: str) -> int:
        with self._lock:
            self._seq[run_id] = self._seq.get(run_id, 0) + 1
            return self._seq[run_id]

    # --- Recorder -----------------------------------------------------------------

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        self._started[run_id] = time.monotonic()
        self._write(
            "INSERT INTO runs (id, pipeline, file, digest, trigger, input, status, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
            (
                run_id,
                pipeline.name,
                str(pipeline.file),
                pipeline.digest,
                trigger,
                _json(input, RESULT_LIMIT),
                _now(),
            ),
        )

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
    ) -> None:
        self._write(
            "INSERT INTO steps (run_id, seq, step_id, status, duration_ms, result, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self._next(run_id),
                step_id,
                status,
                round(seconds * 1000, 1),
                _json(result, RESULT_LIMIT),
                error,
            ),
        )

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO attempts (run_id, seq, step_id, attempt, duration_ms, request,"
            " response, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self._next(run_id),
                step_id,
                attempt.get("attempt", 1),
                attempt.get("duration_ms"),
                _json(attempt.get("request")),
                _json(attempt.get("response")),
                attempt.get("error"),
            ),
        )

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        started = self._started.pop(run_id, None)
        duration = round((time.monotonic() - started) * 1000, 1) if started else None
        self._write(
            "UPDATE runs SET status = ?, finished_at = ?, duration_ms = ?, output = ?,"
            " error = ? WHERE id = ?",
            (status, _now(), duration, _json(output, RESULT_LIMIT), error, run_id),
        )
        with self._lock:
            self._seq.pop(run_id, None)

    # --- reading ------------------------------------------------------------------

    def list_runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        where, args = [], []
        if pipeline:
            where.append("pipeline = ?")
            args.append(pipeline)
        if status:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        args.append(str(limit))
        return self._rows(sql, tuple(args))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with its steps and attempts; ``run_id`` may be a unique prefix."""
        found = self._rows("SELECT * FROM runs WHERE id LIKE ? LIMIT 2", (run_id + "%",))
        if not found:
            raise UsageError(f"no run with id {run_id!r} in {self.path}")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is ambiguous: give more characters")
        run = found[0]
        run["steps"] = self._rows("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run["id"],))
        run["attempts"] = self._rows(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY seq", (run["id"],)
        )
        return run

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            for key in ("input", "output", "result", "request", "response"):
                if isinstance(item.get(key), str):
                    item[key] = json.loads(item[key])
            out.append(item)
        return out
