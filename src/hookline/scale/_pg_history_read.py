"""Reading the run history in PostgreSQL: ``PgHistory``, the same methods and the same
dicts as ``_store_read.History``, so ``hookline runs`` and ``runs show`` print the same
text from either store (the printing code is shared, in ``cli/runs.py``).

A run still recorded as ``running`` whose heartbeat (the database's clock) is older than
the stale time (``_pg_history.stale_seconds``) is shown ``lost``. ``runs show`` of a run
of 100,000 iterations counts its iterations with one aggregate query and reads only the
rows it prints, as the embedded reader does. Reading never migrates nor writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg

from .._errors import UsageError
from .._recorder import child_key, key
from .._store_read import _answers_as_results, _name_run
from .._store_read4 import SHOWN_ITERATIONS, Where
from ._config import masked
from ._pg import PgUnavailable, connect, describe
from ._pg_history import stale_seconds
from ._pg_history_rows import ATTEMPT, ITERATION, SELECT, STEP, record

__all__ = ["PgHistory"]

# The columns of a run, in the order the embedded history gives them (--format json),
# and the age of its heartbeat by the database's clock.
_NAMES = (
    "id",
    "pipeline",
    "file",
    "digest",
    "trigger",
    "input",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "output",
    "error",
    "pid",
    "host",
    "heartbeat_at",
)
_RUN = ", ".join(_NAMES) + ", extract(epoch from clock_timestamp()) - heartbeat_at"
_JSON = ("input", "output")


class PgHistory:
    """A read-only view of the run history in the database at ``url``."""

    def __init__(self, url: str, *, stale: float | None = None) -> None:
        self.where = masked(url)
        self.stale_seconds = stale_seconds() if stale is None else stale
        try:
            self._conn = connect(url)
            self._conn.autocommit = True
            found = self._conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone()
        except PgUnavailable as exc:
            raise UsageError(str(exc)) from None
        except psycopg.Error as exc:
            self._conn.close()
            raise UsageError(self._cannot(exc)) from None
        self._empty = not (found and found[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PgHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cannot(self, exc: BaseException) -> str:
        return f"{self.where}: cannot read the run history: {describe(exc)}"

    def saved_state(self, run_id: str) -> dict[str, Any]:
        """What ``_state.peek(run_id=...)`` gives: the state change a run committed."""
        from ._pg_state import peek

        if self._empty:
            return {}
        try:
            return peek(self._conn, run_id=run_id)
        except psycopg.Error as exc:
            raise UsageError(self._cannot(exc)) from None

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except psycopg.Error as exc:
            raise UsageError(self._cannot(exc)) from None

    def _runs(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        names = (*_NAMES, "_age")
        out = []
        for row in self._query(f"SELECT {_RUN} FROM runs {sql}", args):
            run = dict(zip(names, row, strict=True))
            for name in _JSON:
                run[name] = _json(run[name])
            out.append(self._seen(run))
        return out

    def _seen(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run as it is now: a running run whose heartbeat stopped is lost."""
        age = run.pop("_age")
        if run["status"] == "running" and age is not None and age > self.stale_seconds:
            who = f" (pid {run['pid']} on {run['host']})" if run["pid"] is not None else ""
            run["status"] = "lost"
            run["error"] = f"lost: no sign of life from its process{who} for {age:.0f}s"
        return run

    def list_runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Newest first; ``status`` filters on what the run is seen to be now."""
        if self._empty:
            return []
        where: list[str] = []
        args: list[Any] = []
        if pipeline:
            where.append("pipeline = %s")
            args.append(pipeline)
        if status in ("running", "lost"):
            where.append("status IN ('running', 'lost')")
        elif status:
            where.append("status = %s")
            args.append(status)
        sql = (
            " WHERE " + " AND ".join(where) if where else ""
        ) + " ORDER BY started_at DESC, n DESC"
        if status not in ("running", "lost"):
            sql += " LIMIT %s"
            args.append(limit)
        runs = self._runs(sql, args)
        if status:
            runs = [run for run in runs if run["status"] == status]
        return runs[:limit]

    def _find(self, run_id: str) -> dict[str, Any]:
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = [] if self._empty else self._runs("WHERE id LIKE %s LIMIT 2", (pattern,))
        if not found:
            raise UsageError(f"no run with id {run_id!r} in {self.where}")
        if len(found) > 1:
            raise UsageError(f"run id {run_id!r} is ambiguous: give more characters")
        return found[0]

    def _records(
        self, run_id: str, sql: str = "", args: Iterable[Any] = ()
    ) -> list[dict[str, Any]]:
        return [rec for _, rec in self._kinds(run_id, sql, args)]

    def _kinds(
        self, run_id: str, sql: str = "", args: Iterable[Any] = ()
    ) -> list[tuple[int, dict[str, Any]]]:
        """(kind, record) of the run's rows that ``sql`` picks, in the order recorded."""
        return [
            (row[1], record(row))
            for row in self._query(
                f"SELECT {SELECT} FROM run_records WHERE run_id = %s{sql} ORDER BY seq",
                (run_id, *args),
            )
        ]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with all its steps, attempts and iterations (``run_id``: or a prefix)."""
        run = self._find(run_id)
        steps: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        iterations: list[dict[str, Any]] = []
        for kind, rec in self._kinds(run["id"]):
            {STEP: steps, ATTEMPT: attempts}.get(kind, iterations).append(rec)
        _answers_as_results(steps, attempts)
        run["steps"], run["attempts"], run["iterations"] = steps, attempts, iterations
        _name_run(run)
        return run

    def show_run(
        self,
        run_id: str,
        iteration: int | tuple[tuple[str, int], ...] | None = None,
        *,
        every: bool = False,
    ) -> dict[str, Any]:
        """A run as ``runs show`` prints it (see ``_store_read.History.show_run``)."""
        run = self._find(run_id)
        rid = run["id"]
        if every:
            shown = self._records(rid, " AND kind = %s", (ITERATION,))
        elif isinstance(iteration, tuple):
            shown = self._shown_iterations(rid, None)
            seqs = {it["seq"] for it in shown}
            shown += [it for it in self._iteration_at(rid, iteration) if it["seq"] not in seqs]
        else:
            shown = self._shown_iterations(rid, iteration)
        wheres: set[Where] = {(None, None)}
        for it in shown:
            where = child_key(it["loop_step"], it["loop_index"], it["step_id"])
            wheres.update({(where, it["idx"]), (it["step_id"], it["idx"])})
        steps, attempts = self._rows_at(rid, wheres)
        _answers_as_results(steps, attempts)
        run["steps"], run["attempts"], run["iterations"] = steps, attempts, shown
        run["loop_counts"] = self._loop_counts(rid)
        _name_run(run)
        return run

    def _loop_counts(self, run_id: str) -> dict[tuple[Where, str], dict[str, int]]:
        out: dict[tuple[Where, str], dict[str, int]] = {}
        rows = self._query(
            "SELECT loop_step, loop_index, step_id, status, count(*) FROM run_records"
            " WHERE run_id = %s AND kind = %s GROUP BY loop_step, loop_index, step_id, status",
            (run_id, ITERATION),
        )
        for loop, index, step, status, count in rows:
            out.setdefault(((loop, index), step), {})[status] = count
        return out

    def _shown_iterations(self, run_id: str, index: int | None) -> list[dict[str, Any]]:
        """Iterations that did not pass (at most SHOWN_ITERATIONS per loop); with
        ``index``, iteration ``index`` of the top-level loops too."""
        picked = []
        per_loop: dict[tuple[Any, ...], int] = {}
        rows = self._records(
            run_id,
            " AND kind = %s AND (status != 'ok' OR (loop_step IS NULL AND num = %s))",
            (ITERATION, -1 if index is None else index),
        )
        for it in rows:
            top = it["loop_step"] is None
            if index is not None and top and it["idx"] != index:
                continue
            group = (it["loop_step"], it["loop_index"], it["step_id"])
            seen = per_loop.get(group, 0)
            if seen < SHOWN_ITERATIONS or (index is not None and top):
                picked.append(it)
            per_loop[group] = seen + 1
        return picked

    def _iteration_at(self, run_id: str, path: tuple[tuple[str, int], ...]) -> list[Any]:
        step_id, idx = path[-1]
        around = key(path[:-1])
        sql, args = " AND kind = %s AND step_id = %s AND num = %s", [ITERATION, step_id, idx]
        if around is None:
            sql += " AND loop_step IS NULL"
        else:
            sql += " AND loop_step = %s AND loop_index = %s"
            args += [around[0], around[1]]
        return self._records(run_id, sql, args)

    def _rows_at(
        self, run_id: str, wheres: set[Where]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        indexes = sorted({i for _, i in wheres if i is not None})
        clauses = []
        if (None, None) in wheres:
            clauses.append("loop_step IS NULL")
        if indexes:
            clauses.append("loop_index = ANY(%s)")
        sql = f" AND kind != %s AND ({' OR '.join(clauses)})"
        args: list[Any] = [ITERATION] + ([indexes] if indexes else [])
        steps: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        for kind, rec in self._kinds(run_id, sql, args):
            if (rec["loop_step"], rec["loop_index"]) in wheres:
                (steps if kind == STEP else attempts).append(rec)
        return steps, attempts


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
