"""The history's writer thread: step, iteration and request records are written in
batches, one transaction per batch, so a loop of 100,000 requests does not pay one
commit per record.

Loss window: a record waits at most ``BATCH_SECONDS`` or ``BATCH_RECORDS`` records before
its batch is committed, so a process killed by SIGKILL loses at most that much of its last
records (its run is then shown as ``lost``). A run's start and its final status are not
batched: the store writes them itself, the final status only after ``flush()``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

#: A batch is committed once its first record is this old (seconds)...
BATCH_SECONDS = 0.2
#: ...or once it holds this many records.
BATCH_RECORDS = 500
#: ...or once its texts reach this many characters.
BATCH_CHARS = 2 * 1024 * 1024
#: Characters of records not yet written past which the run waits for the writer: what
#: the queue may hold, whatever the size of the responses (back-pressure).
QUEUE_CHARS = 8 * 1024 * 1024

Record = tuple[Any, ...]


class _Marker:
    """Queued by ``flush``: set once every record queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Writer:
    """One daemon thread that hands batches of records to ``write_batch``.

    ``write_batch`` must not raise: the store turns a database error into its one warning
    and drops what follows.
    """

    def __init__(
        self,
        write_batch: Callable[[list[Record]], None],
        *,
        batch_seconds: float = BATCH_SECONDS,
        batch_records: int = BATCH_RECORDS,
        batch_chars: int = BATCH_CHARS,
        queue_chars: int = QUEUE_CHARS,
    ) -> None:
        self._write_batch = write_batch
        self._seconds = batch_seconds
        self._records = batch_records
        self._batch_chars = batch_chars
        self._queue_chars = queue_chars
        self._pending = 0  # characters put and not yet written
        self._room = threading.Condition()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="hookline-history", daemon=True)
        self._thread.start()

    def put(self, record: Record) -> None:
        size = _size(record)
        with self._room:
            while self._pending and self._pending + size > self._queue_chars:
                if not self._thread.is_alive():
                    return
                self._room.wait(1.0)
            self._pending += size
        self._queue.put((size, record))

    def flush(self, timeout: float) -> bool:
        """Wait until every record put so far is written; False when it took too long."""
        if not self._thread.is_alive():
            return False
        marker = _Marker()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def stop(self, timeout: float) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[Record] = []
            markers: list[_Marker] = []
            chars = [0]
            stop = self._take(first, batch, markers, chars)
            ends = time.monotonic() + self._seconds
            while (
                not stop
                and not markers
                and len(batch) < self._records
                and chars[0] < self._batch_chars
            ):
                wait = ends - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = self._take(item, batch, markers, chars)
            try:
                if batch:
                    self._write_batch(batch)
            finally:
                with self._room:
                    self._pending -= chars[0]
                    self._room.notify_all()
                for marker in markers:
                    marker.done.set()
            if stop:
                return

    @staticmethod
    def _take(item: Any, batch: list[Record], markers: list[_Marker], chars: list[int]) -> bool:
        if item is _STOP:
            return True
        if isinstance(item, _Marker):
            markers.append(item)
        else:
            chars[0] += item[0]
            batch.append(item[1])
        return False


def _size(record: Record) -> int:
    """Characters a record holds (its texts), for the queue's bound."""
    return 64 + sum(len(field) for field in record if isinstance(field, str))
