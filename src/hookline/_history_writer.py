"""The history's writer thread: step, iteration and request records are written in
batches, one transaction per batch, so a loop of 100,000 requests does not pay one
commit per record.

Loss window: the writer wakes every ``BATCH_SECONDS`` (at once when ``BATCH_RECORDS``
records are waiting) and commits what is queued, so a process killed by SIGKILL loses at
most the records of its last ``BATCH_SECONDS`` (plus those of a batch being written) (its
run is then shown as ``lost``). A run's start and its final status are not batched: the
store writes them itself, the final status only after ``flush()``.

The run's threads only append to a deque and count what it holds: no thread is woken per
record (waking the writer for each record cost more than the record). The records hold
values as the run made them; the writer serialises, cuts and compresses them, mostly
while the run waits on the network.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

#: The writer commits what is queued this often (seconds): the loss window of a kill...
BATCH_SECONDS = 0.2
#: ...or at once when this many records wait; a transaction holds at most this many.
BATCH_RECORDS = 500
#: ...and a transaction holds at most about this many characters of texts.
BATCH_CHARS = 2 * 1024 * 1024
#: Characters (estimated) of records not yet written past which the run waits for the
#: writer: what the queue may hold, whatever the size of the responses (back-pressure).
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
        # (size, record) pairs, markers and _STOP. deque.append and popleft are atomic.
        self._items: collections.deque[Any] = collections.deque()
        self._pending = 0  # characters put and not yet written (under _lock)
        self._lock = threading.Lock()  # a plain lock: its "with" costs no Python call
        self._room = threading.Condition(self._lock)
        self._kick = threading.Event()  # a full batch, a flush or a stop is waiting
        self._kicked = False  # set once per wait, not once per record
        self._thread = threading.Thread(target=self._loop, name="hookline-history", daemon=True)
        self._thread.start()

    def put(self, record: Record, size: int = 64) -> None:
        """Queue ``record``; ``size`` estimates the characters it holds (for the bound)."""
        if self._pending + size > self._queue_chars:  # racy read: the wait below rechecks
            with self._room:
                while self._pending and self._pending + size > self._queue_chars:
                    if not self._thread.is_alive():
                        return
                    self._kick.set()
                    self._room.wait(1.0)
        with self._lock:
            self._pending += size
        self._items.append((size, record))
        if not self._kicked and len(self._items) >= self._records:
            self._kicked = True
            self._kick.set()

    def flush(self, timeout: float) -> bool:
        """Wait until every record put so far is written; False when it took too long."""
        if not self._thread.is_alive():
            return False
        marker = _Marker()
        self._items.append(marker)
        self._kick.set()
        return marker.done.wait(timeout)

    def stop(self, timeout: float) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._items.append(_STOP)
            self._kick.set()
            self._thread.join(timeout)

    def _loop(self) -> None:
        items = self._items
        while True:
            self._kick.wait(self._seconds)
            self._kicked = False
            self._kick.clear()
            stop = False
            while items and not stop:
                batch: list[Record] = []
                markers: list[_Marker] = []
                chars = 0
                # Markers end a batch: a flush waits only for what was put before it.
                while items and not markers and len(batch) < self._records:
                    if chars >= self._batch_chars:
                        break
                    item = items.popleft()
                    if item is _STOP:
                        stop = True
                        break
                    if isinstance(item, _Marker):
                        markers.append(item)
                    else:
                        chars += item[0]
                        batch.append(item[1])
                try:
                    if batch:
                        self._write_batch(batch)
                finally:
                    with self._room:
                        self._pending -= chars
                        self._room.notify_all()
                    for marker in markers:
                        marker.done.set()
            if stop:
                return
