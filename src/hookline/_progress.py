"""The progress line of ``hookline run`` on an interactive terminal.

From the start of a run, one line at the bottom of the terminal says how long the run has
taken, and for each loop running its iterations done, their rate and the time left
(``outer 120/1000 · 9.8/s · ETA 1m30s``), and for each paginated step the pages and
records fetched. A ticker thread redraws it every ``INTERVAL`` seconds, so the clock moves
while one slow request is in flight.

The run log owns the terminal: before writing a log line it calls ``clear()`` (under the
lock they share), and the next tick draws the line again below it. The line is cut to the
terminal's width so that it never wraps (a wrapped line could not be cleared).

``RunLog`` creates one only for a text log on a terminal, without -q and outside ``CI``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ._display import shown_line

INTERVAL = 0.2
"""Seconds between two redraws of the progress line."""

_CLEAR = "\r\x1b[K"


@dataclass
class _Task:
    label: str
    total: int | None  # None: pages, whose number is not known in advance
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    records: int = 0


@dataclass(frozen=True)
class LoopHandle:
    key: str
    advance: Callable[[], None]


class Progress:
    def __init__(self, stream: TextIO, lock: threading.Lock, interval: float = INTERVAL) -> None:
        self._stream = stream
        self._lock = lock  # the run log's: a log line and a redraw never interleave
        self._interval = interval
        self._tasks: dict[str, _Task] = {}
        self._drawn = False
        self._started = time.monotonic()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count()

    # --- what the run reports -----------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._tick, name="hookline-progress", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with self._lock:
            self.clear()

    def loop(self, label: str, total: int) -> LoopHandle:
        # Two loops may share a label (the same loop in two iterations of a loop around
        # it, on two threads): each gets its own key.
        key = f"{label}#{next(self._ids)}"
        task = _Task(label, total)
        with self._lock:
            self._tasks[key] = task

        def advance() -> None:
            with self._lock:
                task.done += 1

        return LoopHandle(key, advance)

    def pages(self, label: str, pages: int, records: int) -> None:
        with self._lock:
            task = self._tasks.get(label)
            if task is None:
                task = self._tasks[label] = _Task(label, None)
            task.done, task.records = pages, records

    def done(self, key: str) -> None:
        with self._lock:
            self._tasks.pop(key, None)

    # --- drawing --------------------------------------------------------------------------

    def clear(self) -> None:
        """Erase the line (the caller holds the lock)."""
        if self._drawn:
            self._stream.write(_CLEAR)
            self._drawn = False

    def _tick(self) -> None:
        while not self._stopping.wait(self._interval):
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._stream.write(_CLEAR + self._line(time.monotonic()))
                    self._stream.flush()
                except (OSError, ValueError):  # the terminal went away: stop drawing
                    return
                self._drawn = True

    def _line(self, now: float) -> str:
        parts = [f"running {duration(now - self._started)}"]
        for task in self._tasks.values():
            parts.append(describe(task, now))
        # a label is a step id with its iterations; escaped all the same (it costs one scan
        # a redraw) so that nothing a pipeline names can move the cursor off this line
        return fit(shown_line(" · ".join(parts)), self._width())

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size().columns


def describe(task: _Task, now: float) -> str:
    if task.total is None:
        noun = "page" if task.done == 1 else "pages"
        return f"{task.label} {task.done} {noun}, {task.records} records"
    text = f"{task.label} {task.done}/{task.total}"
    elapsed = now - task.started
    if task.done and elapsed > 0:
        rate = task.done / elapsed
        left = (task.total - task.done) / rate
        text += f", {rate:.1f}/s, ETA {duration(left)}"
    return text


def duration(seconds: float) -> str:
    """``7s``, ``3m05s``, ``2h01m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def fit(text: str, width: int) -> str:
    """``text`` cut to one character less than the terminal's width (a line that filled
    it would wrap on some terminals), marked with ``…`` where it was cut."""
    room = max(width - 1, 10)
    return text if len(text) <= room else text[: room - 1] + "…"
