"""Reading the run history: ``hookline runs`` and ``runs show``.

The database is opened read-only (an SQLite ``mode=ro`` URI): reading creates no
directory and no database, takes no write lock, and never migrates. Runs recorded as
``running`` whose process died are shown as ``lost`` (the next run marks them so).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from ._errors import UsageError
from ._store_schema import SCHEMA_VERSION, lost_reason

_JSON_FIELDS = ("input", "output", "result", "request", "response")


class History:
    """A read-only view of the run history at ``path`` (which must exist)."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        uri = "file:" + urllib.parse.quote(str(self.path.absolute())) + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise UsageError(f"{self.path}: cannot read the run history: {exc}") from None
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"{self.path}: run history written by a newer hookline (schema {version})"
                )
            # An empty file (a run that could not write a thing) holds no runs yet.
            self._empty = not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
            ).fetchall()
        except sqlite3.Error as exc:
            self._db.close()
            raise UsageError(f"{self.path}: cannot read the run history: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Newest first. ``status`` filters on what the run is seen to be now: a run
        recorded as running whose process died counts as lost, not running."""
        if self._empty:
            return []
        where, args = [], []
        if pipeline:
            where.append("pipeline = ?")
            args.append(pipeline)
        if status in ("running", "lost"):
            where.append("status IN ('running', 'lost')")
        elif status:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY started_at DESC, rowid DESC"
        if status not in ("running", "lost"):  # those are filtered after the liveness check
            sql += " LIMIT ?"
            args.append(str(limit))
        runs = [_seen(run) for run in self._rows(sql, tuple(args))]
        if status:
            runs = [run for run in runs if run["status"] == status]
        return runs[:limit]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with its steps and attempts; ``run_id`` may be a unique prefix."""
        found = (
            []
            if self._empty
            else self._rows("SELECT * FROM runs WHERE id LIKE ? LIMIT 2", (run_id + "%",))
        )
        if not found:
            raise UsageError(f"no run with id {run_id!r} in {self.path}")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is ambiguous: give more characters")
        run = _seen(found[0])
        run["steps"] = self._rows("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run["id"],))
        run["attempts"] = self._rows(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY seq", (run["id"],)
        )
        return run

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise UsageError(f"{self.path}: cannot read the run history: {exc}") from None
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            for key in _JSON_FIELDS:
                if isinstance(item.get(key), str):
                    # a value that does not parse is shown as the text it is
                    with contextlib.suppress(ValueError):
                        item[key] = json.loads(item[key])
            out.append(item)
        return out


def _seen(run: dict[str, Any]) -> dict[str, Any]:
    """The run as it is now: a running run whose process died is lost."""
    reason = lost_reason(run)
    if reason is not None:
        run["status"] = "lost"
        run["error"] = f"lost: {reason}"
    for column in ("pid", "host", "heartbeat_at"):  # a schema 1 database lacks them
        run.setdefault(column, None)
    return run
