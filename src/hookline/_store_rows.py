"""How the batched records of the run history become rows (schema 3), in the writer thread.

Records are tuples built by ``Store`` in the thread that ran the step: their texts are
already serialised and cut, so the writer only stores them. A record names its run by the
run's rowid (an int) when the store wrote the run, else by its id. Header sets, long bodies and
long results go to ``blobs`` by content hash; a step result that is exactly its last
answer is not stored a second time (``SAME_TEXT``, ``SAME_JSON``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import Any

from ._blobs import INLINE, BlobWriter

#: ``steps.result_blob`` when the result is the answer of the step's last attempt, whose
#: body is the result's body as text (SAME_TEXT) or parsed as JSON (SAME_JSON).
SAME_TEXT = -1
SAME_JSON = -2


def pop_headers(part: dict[str, Any]) -> str | None:
    """Take the headers out of a request or response record, as one JSON text."""
    headers = part.pop("headers", None)
    if headers is None:
        return None
    return json.dumps(headers, ensure_ascii=False, default=str)


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


def write_rows(db: sqlite3.Connection, blobs: BlobWriter, batch: list[tuple[Any, ...]]) -> None:
    """Write one batch in one transaction; on any error nothing of it is kept."""
    db.execute("BEGIN")
    try:
        for record in batch:
            kind, row = record[0], record[1:]
            if kind == "step":
                _step(db, blobs, row)
            elif kind == "iteration" and isinstance(row[0], int):
                db.execute(
                    "INSERT INTO iterations (run, seq, step_id, idx, status, duration_ms,"
                    " item, output, error, loop_step, loop_index)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            elif kind == "attempt":
                _attempt(db, blobs, row)
        db.execute("COMMIT")
    except BaseException:
        blobs.forget()
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _step(db: sqlite3.Connection, blobs: BlobWriter, row: tuple[Any, ...]) -> None:
    result, same = row[5], row[9]
    big = result is not None and len(result) >= INLINE
    db.execute(
        "INSERT INTO steps (run_id, run, seq, step_id, status, duration_ms, result, error,"
        " loop_step, loop_index, result_blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *_run(row[0]),
            *row[1:5],
            None if big else result,
            *row[6:9],
            same or (blobs.put(db, result) if big else None),
        ),
    )


def _attempt(db: sqlite3.Connection, blobs: BlobWriter, row: tuple[Any, ...]) -> None:
    req_headers, resp_headers, req_body, resp_body = row[10:]
    db.execute(
        "INSERT INTO attempts (run_id, run, seq, step_id, attempt, duration_ms, request,"
        " response, error, loop_step, loop_index, req_headers, resp_headers, req_body,"
        " resp_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *_run(row[0]),
            *row[1:10],
            None if req_headers is None else blobs.put(db, req_headers),
            None if resp_headers is None else blobs.put(db, resp_headers),
            blobs.ref(db, req_body),
            blobs.ref(db, resp_body),
        ),
    )


def _run(ref: int | str) -> tuple[str, int | None]:
    """``run_id`` and ``run`` of a row: the run's rowid when known (``run_id`` empty),
    else its id as in schema 2."""
    return ("", ref) if isinstance(ref, int) else (ref, None)
