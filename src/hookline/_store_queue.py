"""What the run history does on the run's own threads, once per request: queue the record.

The three record methods of ``Store`` only queue the values (already redacted by the
runtime, never changed afterwards) and the writer thread serialises, cuts, hashes and
compresses them (``_store_rows``), mostly while the run waits on the network. A value the
run drops at once and whose size is unknown (a loop step's result that is not an answer)
is serialised here, cut to its limit, so that the queue never holds more than it counts
(``_history_writer.QUEUE_CHARS``).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from ._history_json import history_json
from ._store_rows import RESULT_LIMIT

_SCALARS = (bool, int, float)


class RecordQueue:
    """The record methods of ``Store`` (which provides what is declared here)."""

    _db: sqlite3.Connection | None
    _local: threading.local

    def _ref(self, run_id: str) -> int | str:
        raise NotImplementedError

    def _next(self, run_id: str) -> int:
        raise NotImplementedError

    def _queue(self, record: tuple[Any, ...], size: int) -> None:
        raise NotImplementedError

    def step_attempt(
        self,
        run_id: str,
        step_id: str,
        attempt: dict[str, Any],
        loop: tuple[str, int] | None = None,
    ) -> None:
        if self._db is None:
            return
        # Bodies in an attempt are already cut by the connector that recorded them.
        size = 256
        body = None
        request, response = attempt.get("request"), attempt.get("response")
        if isinstance(request, dict) and isinstance(request.get("body"), str):
            size += len(request["body"])
        if isinstance(response, dict):
            body = response.get("body")
            size += len(body) if isinstance(body, str) else 0
        # The step's result is most often made from this answer: its size is about this.
        self._local.last = (run_id, step_id, loop, len(body) if isinstance(body, str) else 0)
        self._queue(
            ("attempt", self._ref(run_id), self._next(run_id), step_id, loop, attempt), size
        )

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
        loop: tuple[str, int] | None = None,
    ) -> None:
        if self._db is None:
            return
        last = getattr(self._local, "last", None)
        self._local.last = None
        raw = True
        size = 256 + (len(error) if error else 0)
        if result is None or isinstance(result, _SCALARS):
            pass
        elif loop is None:
            # A top-level result stays in the run's context until the run ends anyway.
            size += 1024
        elif last is not None and last[:3] == (run_id, step_id, loop) and last[3] < RESULT_LIMIT:
            size += 2 * last[3]
        else:  # dropped by the run after its iteration, of unknown size: cut it now
            result = history_json(result, RESULT_LIMIT)
            raw = False
            size += len(result) if result else 0
        record = ("step", self._ref(run_id), self._next(run_id), step_id, loop, status, seconds)
        self._queue((*record, result, error, raw), size)

    def iteration_finished(
        self,
        run_id: str,
        step_id: str,
        index: int,
        status: str,
        seconds: float,
        item: Any,
        output: Any,
        error: str | None,
        loop: tuple[str, int] | None = None,
    ) -> None:
        if self._db is None:
            return
        # The item and the output are held by the for_each until it ends: queued as they
        # are, they cost the queue nothing more.
        record = ("iteration", self._ref(run_id), self._next(run_id), step_id, loop, index)
        size = 256 + (len(error) if error else 0)
        self._queue((*record, status, seconds, item, output, error), size)
