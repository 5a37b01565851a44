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
import zlib
from pathlib import Path
from typing import Any

from . import _blobs as blobs
from ._errors import UsageError
from ._recorder import child_key
from ._store_read4 import Reader, Where
from ._store_rows import SAME_JSON
from ._store_schema import SCHEMA_VERSION, lost_reason

_JSON_FIELDS = ("input", "output", "result", "request", "response", "item")


class History:
    """A read-only view of the run history at ``path`` (which must exist)."""

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._blobs: dict[int, str | None] = {}
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
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            # An empty file (a run that could not write a thing) holds no runs yet.
            self._empty = "runs" not in tables
            self._has_legacy = "steps" in tables  # records written before schema 4
            self._has_iterations = "iterations" in tables  # schema 3
            self._v4 = Reader(self._db, self._blob) if "step_records" in tables else None
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

    def _find(self, run_id: str) -> tuple[dict[str, Any], int]:
        """The run whose id is ``run_id`` or starts with it, and its rowid."""
        found = (
            []
            if self._empty
            else self._rows(
                "SELECT rowid AS _rowid, * FROM runs WHERE id LIKE ? LIMIT 2", (run_id + "%",)
            )
        )
        if not found:
            raise UsageError(f"no run with id {run_id!r} in {self.path}")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is ambiguous: give more characters")
        run = _seen(found[0])
        return run, run.pop("_rowid")

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with all its steps, attempts and iterations; ``run_id`` may be a unique
        prefix."""
        run, rowid = self._find(run_id)
        self._guard(lambda: self._whole(run, rowid))
        return run

    def _whole(self, run: dict[str, Any], rowid: int) -> None:
        steps, attempts, iterations = [], [], []
        if self._has_legacy:
            steps = self._records("steps", run["id"], rowid)
            attempts = self._records("attempts", run["id"], rowid)
            if self._has_iterations:
                iterations = self._rows(
                    "SELECT * FROM iterations WHERE run = ? ORDER BY step_id, idx, seq", (rowid,)
                )
                for row in iterations:
                    del row["run"]
        if self._v4 is not None:
            steps = _merged(steps, self._v4.steps(rowid))
            attempts = _merged(attempts, self._v4.attempts(rowid))
            newer = self._v4.iterations(rowid)
            if newer:
                iterations = sorted(
                    iterations + newer, key=lambda r: (r["step_id"], r["idx"], r["seq"])
                )
        _answers_as_results(steps, attempts)
        run["steps"], run["attempts"], run["iterations"] = steps, attempts, iterations
        _name_run(run)

    def show_run(
        self,
        run_id: str,
        iteration: int | tuple[tuple[str, int], ...] | None = None,
        *,
        every: bool = False,
    ) -> dict[str, Any]:
        """A run as ``runs show`` prints it: its top-level steps, how many iterations of
        each loop ended how (``loop_counts``), the iterations that did not pass (or, with
        ``iteration``, that one; with ``every``, all) and their own steps and requests.
        A run recorded with
        schema 4 is read by aggregate SQL and only the rows printed; an older one whole."""
        run, rowid = self._find(run_id)
        v4 = self._v4
        if v4 is None or (self._has_legacy and not v4.has_rows(rowid)):
            self._guard(lambda: self._whole(run, rowid))
            run["loop_counts"] = _counts(run["iterations"])
            return run

        def read() -> None:
            assert v4 is not None
            if every:
                shown = v4.iterations(rowid)
            elif isinstance(iteration, tuple):  # a path: that one, and what did not pass
                shown = v4.shown_iterations(rowid, None)
                seqs = {it["seq"] for it in shown}
                shown += [it for it in v4.iteration_at(rowid, iteration) if it["seq"] not in seqs]
            else:
                shown = v4.shown_iterations(rowid, iteration)
            wheres: set[Where] = {(None, None)}
            for it in shown:
                # a nested loop's records are keyed by its whole path (outer[2].inner);
                # those written before paths were kept, by its own id
                where = child_key(it["loop_step"], it["loop_index"], it["step_id"])
                wheres.update({(where, it["idx"]), (it["step_id"], it["idx"])})
            steps, attempts = v4.rows_at(rowid, wheres)
            _answers_as_results(steps, attempts)
            run["steps"], run["attempts"], run["iterations"] = steps, attempts, shown
            run["loop_counts"] = v4.loop_counts(rowid)

        self._guard(read)
        _name_run(run)
        return run

    def _guard(self, action: Any) -> None:
        try:
            action()
        except (sqlite3.Error, ValueError, zlib.error) as exc:
            raise UsageError(f"{self.path}: cannot read the run history: {exc}") from None

    def _records(self, table: str, run_id: str, rowid: int) -> list[dict[str, Any]]:
        """A run's rows of ``steps`` or ``attempts`` in order: those written before schema
        3 name the run by its id, later ones by its rowid (see ``_store_schema``)."""
        rows = self._rows(
            f"SELECT * FROM {table} WHERE run_id = ? AND run_id != '' ORDER BY seq", (run_id,)
        )
        if self._has_iterations:  # schema 3
            newer = self._rows(
                f"SELECT * FROM {table} WHERE run = ? AND run IS NOT NULL ORDER BY seq", (rowid,)
            )
            if newer:
                rows = sorted(rows + newer, key=lambda row: row["seq"]) if rows else newer
        for row in rows:
            row.pop("run", None)
            row["run_id"] = run_id
        return rows

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
            self._unpack(item)
            for key in _JSON_FIELDS:
                if isinstance(item.get(key), str):
                    # a value that does not parse is shown as the text it is
                    with contextlib.suppress(ValueError):
                        item[key] = json.loads(item[key])
            out.append(item)
        return out

    def _blob(self, value: object) -> str | None:
        """A blob's text; header sets repeat across a loop's requests, so recent ones are
        kept (a few hundred texts, each at most 64 KiB)."""
        if not isinstance(value, int) or isinstance(value, bool):
            return blobs.read(self._db, value)
        cache = self._blobs
        if value in cache:
            return cache[value]
        text = blobs.read(self._db, value)
        if len(cache) >= 256:
            cache.pop(next(iter(cache)))
        cache[value] = text
        return text

    def _unpack(self, row: dict[str, Any]) -> None:
        """Put back what schema 3 keeps apart: a long step result, and an attempt's
        headers and bodies (kept once by content hash in ``blobs``)."""
        try:
            blob = row.pop("result_blob", None)
            if blob is not None and blob < 0:
                row["same_as_answer"] = blob  # resolved by _answers_as_results
            elif blob is not None:
                row["result"] = self._blob(blob)
            parts = [
                ("request", "req_headers", "req_body"),
                ("response", "resp_headers", "resp_body"),
            ]
            for part, headers_column, body_column in parts:
                if headers_column not in row:
                    continue
                headers = self._blob(row.pop(headers_column))
                body = self._blob(row.pop(body_column))
                if headers is None and body is None:
                    continue  # a row from before schema 3 holds them in its JSON
                value = json.loads(row[part]) if isinstance(row.get(part), str) else {}
                if headers is not None:
                    value["headers"] = json.loads(headers)
                value["body"] = body
                row[part] = json.dumps(value, ensure_ascii=False)
        except (sqlite3.Error, ValueError, zlib.error) as exc:
            raise UsageError(f"{self.path}: cannot read the run history: {exc}") from None


def _answers_as_results(steps: list[dict[str, Any]], attempts: list[dict[str, Any]]) -> None:
    """Give back the result of each step stored as "the answer of its last attempt"
    (schema 3 keeps a REST step's answer once): status, headers by lower-case name, body."""
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    pending = iter(attempts)
    nxt = next(pending, None)
    for step in steps:
        while nxt is not None and nxt["seq"] < step["seq"]:
            last[(nxt["step_id"], nxt.get("loop_step"), nxt.get("loop_index"))] = nxt
            nxt = next(pending, None)
        same = step.pop("same_as_answer", None)
        if same is None:
            continue
        answer = last.get((step["step_id"], step.get("loop_step"), step.get("loop_index")))
        response = (answer or {}).get("response")
        if not isinstance(response, dict):
            continue
        body = response.get("body")
        if same == SAME_JSON and isinstance(body, str):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        headers = response.get("headers") or {}
        step["result"] = {
            "status": response.get("status"),
            "headers": {k.lower(): v for k, v in headers.items()},
            "body": body,
        }


def _seen(run: dict[str, Any]) -> dict[str, Any]:
    """The run as it is now: a running run whose process died is lost."""
    reason = lost_reason(run)
    if reason is not None:
        run["status"] = "lost"
        run["error"] = f"lost: {reason}"
    for column in ("pid", "host", "heartbeat_at"):  # a schema 1 database lacks them
        run.setdefault(column, None)
    return run


def _merged(older: list[dict[str, Any]], newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the older tables and of schema 4 in the order they were recorded."""
    if not older:
        return newer
    return sorted(older + newer, key=lambda row: row["seq"]) if newer else older


def _counts(iterations: list[dict[str, Any]]) -> dict[tuple[Where, str], dict[str, int]]:
    """How many iterations of each loop ended with each status (for a run read whole)."""
    out: dict[tuple[Where, str], dict[str, int]] = {}
    for it in iterations:
        key = ((it.get("loop_step"), it.get("loop_index")), it["step_id"])
        by_status = out.setdefault(key, {})
        by_status[it["status"]] = by_status.get(it["status"], 0) + 1
    return out


def _name_run(run: dict[str, Any]) -> None:
    """Give each record its run's id, where the older tables put it: first in steps and
    attempts, last in iterations."""
    for key in ("steps", "attempts"):
        run[key] = [row if "run_id" in row else {"run_id": run["id"], **row} for row in run[key]]
    for row in run["iterations"]:
        row["run_id"] = run["id"]
