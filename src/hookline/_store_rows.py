"""How the batched records of the run history become rows (schema 4), in the writer thread.

Records are tuples built by ``Store`` in the thread that ran the step. They hold the
values as the run made them (already redacted, never changed afterwards): serialising,
cutting, hashing and compressing them happens here, in the writer thread, mostly while
the run waits on the network. A record names its run by the run's rowid (an int) when
the store wrote the run, else by its id.

Each record is one small row (see ``_store_schema``, version 4); its texts go, as one
JSON array, into the batch's block (``_store_block``). Header sets, and texts of
``BLOB_MIN`` characters or more, go to ``blobs`` by content hash: the array holds the
blob's id (an int) where a text would be. A step result that is exactly its last answer
is not stored a second time (``SAME_TEXT``, ``SAME_JSON``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import Any

from ._blobs import BlobWriter
from ._history_json import history_json
from ._store_block import write_blocks

#: Characters of a run's input and output, and of a step's result, kept in the history.
RESULT_LIMIT = 64 * 1024
#: Characters of a for_each iteration's item, and of its output, kept in the history.
ITEM_LIMIT = 4 * 1024
#: Texts this long (characters) or longer are kept once by content hash in ``blobs``
#: (a cron run fetching the same large answer every time stores it once).
BLOB_MIN = 4096

#: ``same`` (``result_blob`` in schema 3) when the result is the answer of the step's
#: last attempt, whose body is the result's body as text (SAME_TEXT) or parsed as JSON
#: (SAME_JSON).
SAME_TEXT = -1
SAME_JSON = -2

_ANSWERS_MAX = 4096  # answers of unfinished steps remembered for the check above


def pop_body(part: dict[str, Any]) -> str | None:
    """Take the body out of a request or response record: the text it is, not encoded
    again as a JSON string."""
    body = part.pop("body", None)
    if body is None or isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False, default=str)


def same_as_answer(
    result: Any, status: Any, headers: dict[str, Any] | None, body: str | None
) -> int | None:
    """SAME_TEXT or SAME_JSON when ``result`` is exactly the answer (status, headers,
    body) of the step's last attempt, so it is not stored twice; else None.

    A REST step's result is its answer: keeping both would double the history."""
    if not isinstance(result, dict) or result.keys() != {"status", "headers", "body"}:
        return None
    if result["status"] != status or body is None:
        return None
    # Masked credential headers differ from the result's values: then both are kept.
    if result["headers"] != {k.lower(): v for k, v in (headers or {}).items()}:
        return None
    if isinstance(result["body"], str):
        return SAME_TEXT if result["body"] == body else None
    try:  # a body cut for the history does not parse, and is not the same
        return SAME_JSON if json.loads(body) == result["body"] else None
    except ValueError:
        return None


def tenths(seconds: float | None) -> int | None:
    """A duration as the integer tenths of a millisecond a row keeps."""
    return None if seconds is None else round(seconds * 10_000)


class RowWriter:
    """Turns batches of records into rows; the writer thread's own state (caches of
    names, blob ids and run rowids; the last answer of each unfinished step)."""

    def __init__(self) -> None:
        self.blobs = BlobWriter()
        self._names: dict[str, int] = {}
        self._header_ids: dict[Any, int] = {}
        self._runs: dict[str, int | None] = {}
        self._answers: dict[tuple[Any, ...], tuple[Any, Any, str | None]] = {}

    def forget(self) -> None:
        """Drop what a rolled-back transaction may have made up."""
        self.blobs.forget()
        self._names.clear()
        self._header_ids.clear()

    def write(self, db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        """Write one batch in one transaction; on any error nothing of it is kept."""
        db.execute("BEGIN")
        try:
            self._write(db, batch)
            db.execute("COMMIT")
        except BaseException:
            self.forget()
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _write(self, db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
        members: list[str] = []
        rows: dict[str, list[list[Any]]] = {"step": [], "attempt": [], "iteration": []}
        for record in batch:
            kind = record[0]
            run = self._run(db, record[1])
            if run is None:
                continue
            if kind == "attempt":
                row, texts = self._attempt(db, run, record)
            elif kind == "step":
                row, texts = self._step(db, run, record)
            else:
                row, texts = self._iteration(db, run, record)
            while texts and texts[-1] is None:
                texts.pop()
            if texts:
                row[-3] = len(members)  # the member's index, made a reference below
                members.append(json.dumps(texts, ensure_ascii=False, default=str))
            rows[kind].append(row)
        refs = write_blocks(db, members) if members else []
        for kind_rows in rows.values():
            for row in kind_rows:
                if row[-3] is not None:
                    row[-3] = refs[row[-3]]
        for table, kind, marks in (
            ("step_records", "step", 9),
            ("attempt_records", "attempt", 8),
            ("iteration_records", "iteration", 9),
        ):
            if rows[kind]:
                db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * marks)})", rows[kind])

    # Each returns the row (``texts`` third from the end, filled in later) and the texts.

    def _attempt(
        self, db: sqlite3.Connection, run: int, record: tuple[Any, ...]
    ) -> tuple[list[Any], list[Any] | None]:
        _, _, seq, step_id, loop, attempt = record
        request = dict(attempt.get("request") or {})
        response = attempt.get("response")
        response = dict(response) if isinstance(response, dict) else None
        resp_headers = response.get("headers") if response is not None else None
        texts: list[Any] = [None, None, None, None, None, None, attempt.get("error")]
        texts[2] = self._headers(db, request.pop("headers", None))
        req_body = pop_body(request)
        texts[0] = request
        if response is not None:
            texts[3] = self._headers(db, response.pop("headers", None))
            resp_body = pop_body(response)
            texts[1] = response
            texts[5] = self._text(db, resp_body)
            if len(self._answers) >= _ANSWERS_MAX:
                self._answers.clear()
            self._answers[(run, step_id, loop)] = (response.get("status"), resp_headers, resp_body)
        texts[4] = self._text(db, req_body)
        where, index = self._loop(db, loop)
        ms = attempt.get("duration_ms")
        row = [
            run,
            seq,
            self._name(db, step_id),
            attempt.get("attempt", 1),
            None if ms is None else round(ms * 10),
            None,
            where,
            index,
        ]
        return row, texts

    def _step(
        self, db: sqlite3.Connection, run: int, record: tuple[Any, ...]
    ) -> tuple[list[Any], list[Any] | None]:
        _, _, seq, step_id, loop, status, seconds, result, error, raw = record
        answer = self._answers.pop((run, step_id, loop), None)
        same = same_as_answer(result, *answer) if raw and answer is not None else None
        if same or not raw:
            text = None if same else result
        elif answer is not None and answer[2] is not None and len(answer[2]) <= RESULT_LIMIT:
            # Made from an answer that was not cut (a cut body ends past the limit with a
            # note): its size is bounded by the answer's, so the C encoder at once,
            # without first counting what the value holds.
            text = json.dumps(result, ensure_ascii=False, default=str)
            if len(text) > RESULT_LIMIT:
                text = history_json(result, RESULT_LIMIT)
        else:
            text = history_json(result, RESULT_LIMIT)
        texts = None if text is None and error is None else [self._text(db, text), error]
        where, index = self._loop(db, loop)
        row = [
            run,
            seq,
            self._name(db, step_id),
            self._name(db, status),
            tenths(seconds),
            same,
            None,
            where,
            index,
        ]
        return row, texts

    def _iteration(
        self, db: sqlite3.Connection, run: int, record: tuple[Any, ...]
    ) -> tuple[list[Any], list[Any] | None]:
        _, _, seq, step_id, loop, idx, status, seconds, item, output, error = record
        texts = [
            self._text(db, history_json(item, ITEM_LIMIT)),
            self._text(db, history_json(output, ITEM_LIMIT)),
            error,
        ]
        where, index = self._loop(db, loop)
        row = [
            run,
            seq,
            self._name(db, step_id),
            idx,
            self._name(db, status),
            tenths(seconds),
            None,
            where,
            index,
        ]
        return row, texts

    def _run(self, db: sqlite3.Connection, ref: int | str) -> int | None:
        if isinstance(ref, int):
            return ref
        if ref not in self._runs:  # a run this store did not start: found by its id
            found = db.execute("SELECT rowid FROM runs WHERE id = ?", (ref,)).fetchone()
            self._runs[ref] = None if found is None else found[0]
        return self._runs[ref]

    def _name(self, db: sqlite3.Connection, name: str) -> int:
        found = self._names.get(name)
        if found is None:
            db.execute("INSERT OR IGNORE INTO names (name) VALUES (?)", (name,))
            found = db.execute("SELECT id FROM names WHERE name = ?", (name,)).fetchone()[0]
            self._names[name] = found
        return found

    def _loop(self, db: sqlite3.Connection, loop: tuple[str, int] | None) -> tuple[Any, Any]:
        return (None, None) if loop is None else (self._name(db, loop[0]), loop[1])

    def _headers(self, db: sqlite3.Connection, headers: Any) -> int | None:
        """The blob id of a header set. A loop sends and gets the same headers again and
        again: a set seen before costs a dict lookup, not an encoding and a hash."""
        if headers is None:
            return None
        try:
            key: Any = tuple(headers.items())
            found = self._header_ids.get(key)
        except (AttributeError, TypeError):  # not a mapping of plain values
            key, found = None, None
        if found is None:
            found = self.blobs.put(db, json.dumps(headers, ensure_ascii=False, default=str))
            if key is not None:
                if len(self._header_ids) >= _ANSWERS_MAX:
                    self._header_ids.clear()
                self._header_ids[key] = found
        return found

    def _text(self, db: sqlite3.Connection, text: str | None) -> str | int | None:
        """A text as the array keeps it: itself, or its blob id when long."""
        if text is None or len(text) < BLOB_MIN:
            return text
        return self.blobs.put(db, text)
