"""The run log on stderr: one line per step, as text for people or JSON lines for machines.

Everything written passes through the run's Redactor first.

Text lines carry a UTC timestamp when stderr is not a terminal (cron mail, a file), and
colour when it is one; ``HOOKLINE_LOG_TIME`` (``auto``, ``always``, ``never``),
``NO_COLOR`` and ``FORCE_COLOR`` change that (docs/running.md, "The run log"). JSON lines
always carry a millisecond timestamp, the pipeline's name and the run's id.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from ._display import json_safe, shown
from ._recorder import iterations, path
from ._redact import Redactor

if TYPE_CHECKING:
    from ._progress import Progress

Format = Literal["text", "json"]
Level = Literal["quiet", "normal", "verbose"]

# SGR colours: red for errors and failed steps, yellow for warnings and failures that
# on_error handled, dim for timestamps.
_RED, _YELLOW, _DIM, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[0m"


def _printable(text: str) -> str:
    """A text line: what an upstream's text could carry (an error body, a header) escaped
    (``_display``), so that it cannot move the cursor, clear the screen or reorder the
    line; a line break starts an indented continuation line, never one that looks like
    one of ours."""
    if text.isprintable():
        return text
    text = shown(text)
    return text.replace("\n", "\n  ") if "\n" in text else text


def now_iso() -> str:
    """UTC now, ISO 8601 with milliseconds and ``Z``: ``2026-11-30T11:56:31.667Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def wants_colour(stream: TextIO, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Colour on a terminal; never with ``NO_COLOR`` (no-color.org: set and not empty) or
    ``TERM=dumb``; always with ``FORCE_COLOR`` set to anything but "" or "0", even in a
    file or a pipe (for a CI log viewer that shows colour)."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return _isatty(stream) and env.get("TERM") != "dumb"


def wants_timestamps(stream: TextIO, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Timestamps on text lines when stderr is not a terminal; ``HOOKLINE_LOG_TIME=always``
    or ``never`` decides instead (``never`` under a journal that stamps lines itself)."""
    setting = env.get("HOOKLINE_LOG_TIME", "auto").strip().lower()
    if setting in ("always", "1", "yes"):
        return True
    if setting in ("never", "0", "no"):
        return False
    return not _isatty(stream)


class RunLog:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        fmt: Format = "text",
        level: Level = "normal",
        redactor: Redactor | None = None,
        progress: bool = False,
        stamps: bool | None = False,
    ) -> None:
        """``progress``: draw a progress line (elapsed time, loops, pages) on an
        interactive terminal; ignored in JSON logs, with -q, under ``CI`` and when the
        stream is not a terminal. ``stamps``: start text lines with a timestamp; None:
        when the stream is not a terminal, or as ``HOOKLINE_LOG_TIME`` says."""
        self.stream = stream if stream is not None else sys.stderr
        self.fmt = fmt
        self.level = level
        self.redactor = redactor or Redactor()
        self.run_id = ""
        self.pipeline = ""
        self._lock = threading.Lock()
        self._failed: dict[str, str] = {}  # the last failure's note -> the step it named
        self.kept = False  # the run's record is in the run history (run_ended)
        text = fmt == "text"
        self.colour = text and wants_colour(self.stream)
        self.timestamps = text and (wants_timestamps(self.stream) if stamps is None else stamps)
        show = (
            progress
            and text
            and level != "quiet"
            and _isatty(self.stream)
            and not os.environ.get("CI")
            and os.environ.get("TERM") != "dumb"
        )
        self.bar: Progress | None = None
        if show:  # imported only then: a run in a pipe or under cron does without it
            from ._progress import Progress

            self.bar = Progress(self.stream, self._lock)

    def _emit(
        self, level: str, event: str, message: str, status: str | None = None, **fields: Any
    ) -> None:
        if self.level == "quiet" and level not in ("error",):
            return
        step = fields.get("step")
        if isinstance(step, str) and event != "step" and "iteration" not in fields:
            # a connector's line about a step in a loop (a retry, a page limit): named by
            # its iterations like the step's own line, write[17].create
            loop = path(iterations())
            if loop:
                fields["iteration"] = loop
                message = _named(message, step, loop)
        if self.fmt == "json":
            if status is not None:
                fields = {"status": status, **fields}
            record = {
                "time": now_iso(),
                "level": level,
                "event": event,
                "pipeline": self.pipeline or None,
                "run": self.run_id or None,
                "message": message,
                **fields,
            }
            # U+2028, NEL, C1 and bidi controls as \uXXXX: one line per record whichever
            # line splitter a collector uses, and inert on a terminal
            line = json_safe(
                json.dumps(
                    self.redactor.value(record),
                    ensure_ascii=False,
                    # a value JSON cannot hold is written as text: redacted like the rest
                    default=lambda value: self.redactor.text(str(value)),
                )
            )
        else:
            line = _printable(self.redactor.text(message))
            if self.colour:
                line = _paint(line, level, status)
            if self.timestamps:
                stamp = now_iso()
                line = f"{_DIM}{stamp}{_RESET} {line}" if self.colour else f"{stamp} {line}"
        with self._lock:
            if self.bar is not None:
                self.bar.clear()  # the progress line gives way: no log line is garbled
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

    def event(self, event: str, message: str, **fields: Any) -> None:
        """A record for collectors only (run_started, run_succeeded): JSON lines carry
        it, the text log does not."""
        if self.fmt == "json":
            self._emit("info", event, message, **fields)

    def step(
        self, step_id: str, status: str, seconds: float, note: str = "", loop: str = ""
    ) -> None:
        """A step's line. ``loop``: the iterations it ran in (``write[17]``), which name it
        in the text (``write[17].create: failed``) and in the ``iteration`` field.
        A failure that on_error or ``continue`` handled is a warning, not an error."""
        if self.level == "quiet":  # -q: the run's error line alone says what failed
            return
        extra = f" {note}" if note else ""
        name = f"{loop}.{step_id}" if loop else step_id
        said = extra
        if status.startswith("failed") and note:
            # A loop fails with the error of the step that failed in it, which has its own
            # line just above: the text log names that step rather than repeat the error.
            first = self._failed.get(note)
            if first is not None and first != name:
                said = f" at {first}"
            else:
                self._failed = {note: name}
        level = (
            "error" if status == "failed" else "warning" if status.startswith("failed") else "info"
        )
        where: dict[str, str] = {"iteration": loop} if loop else {}
        if said != extra:  # the step it failed at, for a collector to join on
            where["failed_at"] = said[len(" at ") :]
        # One message in both formats: the JSON line's is the line the text log prints.
        self._emit(
            level,
            "step",
            f"{name}: {status}{said} ({seconds:.2f}s)",
            status=status,
            step=step_id,
            **where,
            duration_ms=round(seconds * 1000, 1),
        )

    def failed_run(self, run_id: str, db: str | None = None, env_file: str | None = None) -> None:
        """The line before a failed run's error, even with -q: where to read what it
        sent and got (``hookline runs show``), each failed iteration in full. The command
        carries the run's ``--env-file`` and ``--db``, which may have put the history
        elsewhere than the default home, so that it works as printed."""
        where = f" --env-file {shlex.quote(env_file)}" if env_file else ""
        where += f" --db {shlex.quote(db)}" if db else ""
        level, self.level = self.level, "normal"
        try:
            self._emit(
                "info",
                "run_id",
                f"run {run_id} failed; see: hookline runs show {run_id[:12]}{where}",
            )
        finally:
            self.level = level

    # --- the run's start and end, and the progress line ---------------------------------

    def run_started(self, run_id: str, pipeline: str, trigger: str) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.event("run_started", f"run {run_id} started", trigger=trigger)
        if self.bar is not None:
            self.bar.start()

    def run_ended(self, status: str, seconds: float, kept: bool = False) -> None:
        """The run's final record is written (``kept``: in the run history, which
        ``runs show`` reads). The front end (the CLI, serve) logs a failure itself, with
        what the user can do about it; a success is an event."""
        self.kept = kept
        if self.bar is not None:
            self.bar.stop()
        if status == "succeeded":
            self.event(
                "run_succeeded",
                f"run {self.run_id} succeeded",
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )

    def pages(self, label: str, pages: int, records: int) -> None:
        if self.bar is not None:
            self.bar.pages(label, pages, records)

    def task_done(self, label: str) -> None:
        if self.bar is not None:
            self.bar.done(label)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[], None]]:
        """Count a loop's iterations on the progress line (when there is one)."""
        bar = self.bar
        if bar is None or total < 1:
            yield _nothing
            return
        handle = bar.loop(label, total)
        try:
            yield handle.advance
        finally:
            bar.done(handle.key)


def _named(message: str, step: str, loop: str) -> str:
    """``message`` with the step's id at its start (after ``warning: `` or ``error: ``)
    prefixed by the iterations it runs in."""
    for prefix in ("", "warning: ", "error: "):
        if message.startswith(f"{prefix}{step}: "):
            return f"{prefix}{loop}.{message[len(prefix) :]}"
    return message


def _nothing() -> None:
    return None


def _paint(line: str, level: str, status: str | None) -> str:
    """Colour the part of a text line that says what went wrong: the ``error:`` or
    ``warning:`` prefix, or a step's failed status."""
    colour = _RED if level == "error" else _YELLOW if level == "warning" else ""
    if not colour:
        return line
    for prefix in ("error:", "warning:"):
        if line.startswith(prefix):
            return f"{colour}{prefix}{_RESET}{line[len(prefix) :]}"
    if status:
        mark = f": {status}"
        at = line.find(mark)
        if at >= 0:
            end = at + len(mark)
            return f"{line[: at + 2]}{colour}{status}{_RESET}{line[end:]}"
    return line
