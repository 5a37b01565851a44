"""How the batched history records become rows of ``run_records`` (PostgreSQL), in the
writer thread, and how the readers turn them back into the dicts ``runs show`` prints.

The records are the tuples ``_store_queue.RecordQueue`` queues (already redacted). A row
keeps the same values the embedded history keeps, cut with the same limits
(``RESULT_LIMIT``, ``ITEM_LIMIT``), and a REST step's result that is exactly its last
answer is not stored a second time (``same``): so ``runs show`` prints the same text from
either store. The texts of a record go, as one JSON array in ASCII (a lone surrogate or a
NUL from an upstream stays storable), into ``texts``; PostgreSQL compresses long ones.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from .._history_json import history_json
from .._store_rows import ITEM_LIMIT, RESULT_LIMIT, pop_body, same_as_answer, tenths

STEP, ATTEMPT, ITERATION = 1, 2, 3
KINDS = {"step": STEP, "attempt": ATTEMPT, "iteration": ITERATION}
#: The columns of ``run_records``, in the order rows are written.
COLUMNS = (
    "run_id",
    "seq",
    "kind",
    "step_id",
    "status",
    "num",
    "tenths",
    "same",
    "loop_step",
    "loop_index",
    "texts",
)

_ANSWERS_MAX = 4096  # answers of unfinished steps remembered for the "same" check

Row = tuple[Any, ...]


def _texts(texts: list[Any]) -> str | None:
    while texts and texts[-1] is None:
        texts.pop()
    return json.dumps(texts, ensure_ascii=True, default=str) if texts else None


class RowMaker:
    """The writer thread's state: the last answer of each unfinished step."""

    def __init__(self) -> None:
        self._answers: dict[tuple[Any, ...], tuple[Any, Any, str | None]] = {}

    def row(self, record: tuple[Any, ...]) -> Row:
        kind = record[0]
        if kind == "attempt":
            return self._attempt(record)
        if kind == "step":
            return self._step(record)
        return self._iteration(record)

    def _attempt(self, record: tuple[Any, ...]) -> Row:
        _, run, seq, step_id, loop, attempt = record
        request = dict(attempt.get("request") or {})
        response = attempt.get("response")
        response = dict(response) if isinstance(response, dict) else None
        resp_headers = response.get("headers") if response is not None else None
        texts: list[Any] = [None, None, request.pop("headers", None), None, None, None]
        texts.append(attempt.get("error"))
        texts[4] = pop_body(request)
        texts[0] = request
        if response is not None:
            texts[3] = response.pop("headers", None)
            resp_body = pop_body(response)
            texts[1] = response
            texts[5] = resp_body
            if len(self._answers) >= _ANSWERS_MAX:
                self._answers.clear()
            self._answers[(run, step_id, loop)] = (response.get("status"), resp_headers, resp_body)
        ms = attempt.get("duration_ms")
        where, index = loop if loop is not None else (None, None)
        return (
            run,
            seq,
            ATTEMPT,
            step_id,
            None,
            attempt.get("attempt", 1),
            None if ms is None else round(ms * 10),
            None,
            where,
            index,
            _texts(texts),
        )

    def _step(self, record: tuple[Any, ...]) -> Row:
        _, run, seq, step_id, loop, status, seconds, result, error, raw = record
        answer = self._answers.pop((run, step_id, loop), None)
        same = same_as_answer(result, *answer) if raw and answer is not None else None
        # Not raw: the run queued it already cut, as text. The same as its answer: not
        # stored again.
        text = history_json(result, RESULT_LIMIT) if raw and not same else None if same else result
        texts = [] if text is None and error is None else [text, error]
        where, index = loop if loop is not None else (None, None)
        return (
            run,
            seq,
            STEP,
            step_id,
            status,
            None,
            tenths(seconds),
            same,
            where,
            index,
            _texts(texts),
        )

    def _iteration(self, record: tuple[Any, ...]) -> Row:
        _, run, seq, step_id, loop, idx, status, seconds, item, output, error = record
        texts = [history_json(item, ITEM_LIMIT), history_json(output, ITEM_LIMIT), error]
        where, index = loop if loop is not None else (None, None)
        return (
            run,
            seq,
            ITERATION,
            step_id,
            status,
            idx,
            tenths(seconds),
            None,
            where,
            index,
            _texts(texts),
        )


# --- rows back to the dicts of _store_read4 ------------------------------------------


def _unpacked(text: str | None, size: int) -> list[Any]:
    texts: list[Any] = json.loads(text) if text else []
    return texts + [None] * (size - len(texts))


def _ms(value: int | None) -> float | None:
    return None if value is None else value / 10


def _parsed(text: str | None) -> Any:
    if text is None:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(text)
    return text


def _part(meta: Any, headers: Any, body: Any) -> Any:
    if not isinstance(meta, dict):
        return meta
    if headers is not None:
        meta["headers"] = headers
    meta["body"] = body
    return meta


#: What readers select, in this order, for ``record``.
SELECT = "seq, kind, step_id, status, num, tenths, same, loop_step, loop_index, texts"


def record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row (``SELECT``) as ``_store_read4.Reader`` gives the same record."""
    seq, kind, step_id, status, num, tenth, same, loop_step, loop_index, text = row
    where = {"loop_step": loop_step, "loop_index": loop_index}
    if kind == STEP:
        result, error = _unpacked(text, 2)
        out = {
            "seq": seq,
            "step_id": step_id,
            "status": status,
            "duration_ms": _ms(tenth),
            "result": _parsed(result),
            "error": error,
            **where,
        }
        if same is not None:
            out["same_as_answer"] = same
        return out
    if kind == ATTEMPT:
        request, response, req_headers, resp_headers, req_body, resp_body, error = _unpacked(
            text, 7
        )
        return {
            "seq": seq,
            "step_id": step_id,
            "attempt": num,
            "duration_ms": _ms(tenth),
            "request": _part(request, req_headers, req_body),
            "response": _part(response, resp_headers, resp_body),
            "error": error,
            **where,
        }
    item, output, error = _unpacked(text, 3)
    return {
        "seq": seq,
        "step_id": step_id,
        "idx": num,
        "status": status,
        "duration_ms": _ms(tenth),
        "item": _parsed(item),
        "output": _parsed(output),
        "error": error,
        **where,
    }
