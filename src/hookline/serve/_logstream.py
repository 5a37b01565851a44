"""The service's stderr: lines are handed to a writer thread instead of written in place.

Under load the access log is a line per request; written and flushed in place, that was a
system call per request on the event loop, and a log reader that stops reading (a full
pipe) would block the event loop, and every answer with it. Here ``write`` only appends
to a list; a thread writes what gathered every ``INTERVAL`` seconds, in one call. A closed
pipe is ignored (the service goes on answering and still stops at SIGTERM); a stalled one
holds back only the writer thread, and past ``MAX_PENDING`` lines the oldest are dropped,
and counted in a line that says so.
"""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Any

INTERVAL = 0.05
"""Seconds between two writes: how late a log line may appear."""
MAX_PENDING = 10_000
"""Lines kept while the reader does not read; older ones are dropped past this."""


class LogStream(io.TextIOBase):
    def __init__(self, inner: Any, interval: float = INTERVAL) -> None:
        self._inner = inner
        self._interval = interval
        self._lines: list[str] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hookline-log", daemon=True)
        self._thread.start()

    def write(self, text: str) -> int:  # type: ignore[override]
        with self._lock:
            if len(self._lines) >= MAX_PENDING:
                del self._lines[0]
                self._dropped += 1
            self._lines.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing here: the writer thread writes within ``INTERVAL``."""

    def isatty(self) -> bool:
        """Whether stderr is a terminal: the log's timestamps and colour follow it."""
        try:
            return bool(self._inner.isatty())
        except (AttributeError, ValueError):  # a closed or odd stream
            return False

    def close(self) -> None:
        """Write what is left, and stop the writer thread."""
        self._stop.set()
        self._thread.join(5)
        self._drain()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            dropped, self._dropped = self._dropped, 0
        if dropped:
            lines.insert(0, f"warning: {dropped} log lines dropped: the log was not read\n")
        if not lines:
            return
        with contextlib.suppress(OSError, ValueError):  # the reader is gone: nothing to do
            self._inner.write("".join(lines))
            self._inner.flush()
