"""The run log on stderr: one line per step, as text for people or JSON lines for machines.

Everything written passes through the run's Redactor first.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

from ._redact import Redactor

Format = Literal["text", "json"]
Level = Literal["quiet", "normal", "verbose"]

# Control characters an upstream's text could carry into a message (an error body, a
# header): written as \xNN in the text log so that they cannot move the cursor, clear the
# screen or start a line that looks like one of ours. A line break starts an indented
# continuation line instead.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
del _CONTROLS[ord("\t")]
_CONTROLS[ord("\n")] = "\n  "
_CONTROLS[ord("\r")] = "\\r"


def _printable(text: str) -> str:
    return text.translate(_CONTROLS) if not text.isprintable() else text


class RunLog:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        fmt: Format = "text",
        level: Level = "normal",
        redactor: Redactor | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.fmt = fmt
        self.level = level
        self.redactor = redactor or Redactor()
        self.run_id = ""
        self._lock = threading.Lock()
        self._bar_drawn = False

    def _emit(self, level: str, event: str, message: str, **fields: Any) -> None:
        if self.level == "quiet" and level not in ("error",):
            return
        if self.fmt == "json":
            record = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "level": level,
                "event": event,
                "run": self.run_id or None,
                "message": message,
                **fields,
            }
            line = json.dumps(
                self.redactor.value(record),
                ensure_ascii=False,
                # a value JSON cannot hold is written as text: redacted like the rest
                default=lambda value: self.redactor.text(str(value)),
            )
        else:
            line = _printable(self.redactor.text(message))
        with self._lock:
            if self._bar_drawn:
                self.stream.write("\r\x1b[K")
                self._bar_drawn = False
            self.stream.write(line + "\n")
            self.stream.flush()

    def info(self, message: str, event: str = "info", **fields: Any) -> None:
        self._emit("info", event, message, **fields)

    def warning(self, message: str, event: str = "warning", **fields: Any) -> None:
        self._emit("warning", event, f"warning: {message}", **fields)

    def error(self, message: str, event: str = "error", **fields: Any) -> None:
        self._emit("error", event, f"error: {message}", **fields)

    def detail(self, message: str, event: str = "detail", **fields: Any) -> None:
        """Requests and responses: only with --verbose."""
        if self.level == "verbose":
            self._emit("debug", event, message, **fields)

    def step(self, step_id: str, status: str, seconds: float, note: str = "") -> None:
        extra = f" {note}" if note else ""
        self._emit(
            "error" if status == "failed" else "info",
            "step",
            f"{step_id}: {status}{extra} ({seconds:.2f}s)",
            step=step_id,
            status=status,
            duration_ms=round(seconds * 1000, 1),
        )

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar on an interactive terminal; nothing in CI, pipes or JSON logs."""
        show = (
            total > 1
            and self.fmt == "text"
            and self.level != "quiet"
            and hasattr(self.stream, "isatty")
            and self.stream.isatty()
            and not os.environ.get("CI")
        )
        done = 0
        lock = threading.Lock()

        def advance() -> None:
            nonlocal done
            with lock:
                done += 1
                if not show:
                    return
                width = 30
                filled = width * done // total
                bar = "#" * filled + "-" * (width - filled)
                with self._lock:
                    self.stream.write(f"\r{label} [{bar}] {done}/{total}")
                    self.stream.flush()
                    self._bar_drawn = True

        try:
            yield advance
        finally:
            if show and self._bar_drawn:
                with self._lock:
                    self.stream.write("\r\x1b[K")
                    self.stream.flush()
                    self._bar_drawn = False
