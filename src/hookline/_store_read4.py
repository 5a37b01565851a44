"""Reading the records of schema 4 (``step_records``, ``attempt_records``,
``iteration_records``; see ``_store_schema``) back into the dicts ``runs show`` prints.

A run's rows are found by their key (run, seq) alone: no other index. ``runs show`` of a
run of 100,000 iterations reads the counts of its iterations with one aggregate query,
then only the rows it prints (the top-level steps, the iterations that did not pass, up
to ``SHOWN_ITERATIONS`` per loop, and their own steps and requests), and decodes the
texts of those rows only.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ._recorder import key
from ._store_block import BlockReader

#: Iterations that did not pass shown in full under a loop by ``runs show`` (the rest are
#: counted; ``runs show RUN --iteration N`` shows any one).
SHOWN_ITERATIONS = 20

Where = tuple[str | None, int | None]
"""The for_each iteration a record ran in: (loop step id, index), or (None, None)."""

_STEP = "SELECT seq, step, status, tenths, same, texts, loop, loop_index FROM step_records"
_ATTEMPT = "SELECT seq, step, attempt, tenths, texts, loop, loop_index FROM attempt_records"
_ITERATION = "SELECT seq, step, idx, status, tenths, texts, loop, loop_index FROM iteration_records"


class Reader:
    """The schema 4 rows of one database; ``blob`` reads a text of ``blobs`` by id."""

    def __init__(self, db: sqlite3.Connection, blob: Callable[[object], str | None]) -> None:
        self._db = db
        self._blob = blob
        self._blocks = BlockReader(db)
        self.names = {i: n for i, n in db.execute("SELECT id, name FROM names")}
        self._ids = {n: i for i, n in self.names.items()}

    def has_rows(self, run: int) -> bool:
        return any(
            self._db.execute(f"SELECT 1 FROM {table} WHERE run = ? LIMIT 1", (run,)).fetchone()
            for table in ("step_records", "attempt_records", "iteration_records")
        )

    # --- whole runs ---------------------------------------------------------------------

    def steps(
        self, run: int, where_sql: str = "", args: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        rows = self._db.execute(f"{_STEP} WHERE run = ?{where_sql} ORDER BY seq", (run, *args))
        return [self._step(row) for row in rows]

    def attempts(
        self, run: int, where_sql: str = "", args: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        rows = self._db.execute(f"{_ATTEMPT} WHERE run = ?{where_sql} ORDER BY seq", (run, *args))
        return [self._attempt(row) for row in rows]

    def iterations(
        self, run: int, where_sql: str = "", args: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        rows = self._db.execute(f"{_ITERATION} WHERE run = ?{where_sql} ORDER BY seq", (run, *args))
        return [self._iteration(row) for row in rows]

    # --- what runs show prints ------------------------------------------------------------

    def loop_counts(self, run: int) -> dict[tuple[Where, str], dict[str, int]]:
        """How many iterations of each loop ended with each status, by aggregate SQL."""
        out: dict[tuple[Where, str], dict[str, int]] = {}
        rows = self._db.execute(
            "SELECT loop, loop_index, step, status, count(*) FROM iteration_records"
            " WHERE run = ? GROUP BY loop, loop_index, step, status",
            (run,),
        )
        for loop, index, step, status, count in rows:
            key = ((self.names.get(loop), index), self.names[step])
            out.setdefault(key, {})[self.names[status]] = count
        return out

    def shown_iterations(self, run: int, index: int | None) -> list[dict[str, Any]]:
        """The iterations ``runs show`` prints in full: those that did not pass (at most
        SHOWN_ITERATIONS per loop); with ``index``, iteration ``index`` of the top-level
        loops and what did not pass inside it."""
        ok = self._ids.get("ok", -1)
        picked: list[tuple[Any, ...]] = []
        per_loop: dict[tuple[Any, ...], int] = {}
        rows = self._db.execute(
            f"{_ITERATION} WHERE run = ? AND (status != ? OR (loop IS NULL AND idx = ?))"
            " ORDER BY seq",
            (run, ok, -1 if index is None else index),
        )
        for row in rows:
            top = row[6] is None
            if index is not None and top and row[2] != index:
                continue
            key = (row[6], row[7], row[1])
            seen = per_loop.get(key, 0)
            if seen < SHOWN_ITERATIONS or (index is not None and top):
                picked.append(row)
            per_loop[key] = seen + 1
        return [self._iteration(row) for row in picked]

    def iteration_at(self, run: int, path: tuple[tuple[str, int], ...]) -> list[dict[str, Any]]:
        """The iteration a path names (``outer[2].inner[5]``): ``inner``'s iteration 5
        whose records sit under ``("outer", 2)``, as ``_recorder.key`` names it."""
        args: tuple[Any, ...]
        step_id, idx = path[-1]
        step = self._ids.get(step_id)
        if step is None:
            return []
        around = key(path[:-1])
        loop_sql, args = " AND loop IS NULL", ()
        if around is not None:
            loop = self._ids.get(around[0])
            if loop is None:
                return []
            loop_sql, args = " AND loop = ? AND loop_index = ?", (loop, around[1])
        return self.iterations(run, f" AND step = ? AND idx = ?{loop_sql}", (step, idx, *args))

    def rows_at(
        self, run: int, wheres: Iterable[Where]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The steps and attempts that ran at ``wheres`` (top level: (None, None))."""
        wanted = set(wheres)
        indexes = sorted({i for _, i in wanted if i is not None})
        clauses = []
        if (None, None) in wanted:
            clauses.append("loop IS NULL")
        if indexes:
            clauses.append(f"loop_index IN ({', '.join('?' * len(indexes))})")
        if not clauses:
            return [], []
        where_sql = f" AND ({' OR '.join(clauses)})"
        keep = self._where_filter(wanted)
        steps = [
            self._step(row)
            for row in self._db.execute(
                f"{_STEP} WHERE run = ?{where_sql} ORDER BY seq", (run, *indexes)
            )
            if keep(row[6], row[7])
        ]
        attempts = [
            self._attempt(row)
            for row in self._db.execute(
                f"{_ATTEMPT} WHERE run = ?{where_sql} ORDER BY seq", (run, *indexes)
            )
            if keep(row[5], row[6])
        ]
        return steps, attempts

    def _where_filter(self, wanted: set[Where]) -> Callable[[int | None, int | None], bool]:
        ids = {(None if s is None else self._ids.get(s, -1), i) for s, i in wanted}
        return lambda loop, index: (loop, index) in ids

    # --- rows to dicts ----------------------------------------------------------------

    def _texts(self, ref: int | None, size: int) -> list[Any]:
        texts: list[Any] = []
        if ref is not None:
            member = self._blocks.member(ref)
            if member is not None:
                texts = json.loads(member)
        texts += [None] * (size - len(texts))
        return texts

    def _text(self, value: Any) -> str | None:
        return self._blob(value) if isinstance(value, int) else value

    def _where(self, loop: int | None, index: int | None) -> dict[str, Any]:
        return {"loop_step": None if loop is None else self.names.get(loop), "loop_index": index}

    def _step(self, row: tuple[Any, ...]) -> dict[str, Any]:
        seq, step, status, tenths, same, ref, loop, index = row
        result, error = self._texts(ref, 2)
        out = {
            "seq": seq,
            "step_id": self.names[step],
            "status": self.names[status],
            "duration_ms": _ms(tenths),
            "result": _parsed(self._text(result)),
            "error": error,
            **self._where(loop, index),
        }
        if same is not None:
            out["same_as_answer"] = same
        return out

    def _attempt(self, row: tuple[Any, ...]) -> dict[str, Any]:
        seq, step, attempt, tenths, ref, loop, index = row
        request, response, req_headers, resp_headers, req_body, resp_body, error = self._texts(
            ref, 7
        )
        return {
            "seq": seq,
            "step_id": self.names[step],
            "attempt": attempt,
            "duration_ms": _ms(tenths),
            "request": self._part(request, req_headers, req_body),
            "response": self._part(response, resp_headers, resp_body),
            "error": error,
            **self._where(loop, index),
        }

    def _part(self, meta: Any, headers: Any, body: Any) -> Any:
        if not isinstance(meta, dict):
            return meta
        if headers is not None:
            text = self._blob(headers)
            meta["headers"] = None if text is None else json.loads(text)
        meta["body"] = self._text(body)
        return meta

    def _iteration(self, row: tuple[Any, ...]) -> dict[str, Any]:
        seq, step, idx, status, tenths, ref, loop, index = row
        item, output, error = self._texts(ref, 3)
        return {
            "seq": seq,
            "step_id": self.names[step],
            "idx": idx,
            "status": self.names[status],
            "duration_ms": _ms(tenths),
            "item": _parsed(self._text(item)),
            "output": _parsed(self._text(output)),
            "error": error,
            **self._where(loop, index),
        }


def _ms(tenths: int | None) -> float | None:
    return None if tenths is None else tenths / 10


def _parsed(text: str | None) -> Any:
    """A JSON text as its value; a value that does not parse is shown as the text it is."""
    if text is None:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return text
