"""Run-level retry of a webhook or scheduled run: the ``retry`` key of those triggers.

A step's own ``retry`` tries one request again within a run; this one runs the whole
pipeline again, as a new attempt of the same delivery, after the run failed. Each attempt
is a run of its own in the history; after the last one the delivery is ``dead`` and
``hookline replay`` can run it again (docs/intake.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._schemabits import DURATION, Schema, obj, prop

__all__ = ["MAX_ATTEMPTS", "RUN_RETRY", "RunRetry", "check_run_retry", "run_retry"]

#: The most attempts a trigger's ``retry`` may ask for.
MAX_ATTEMPTS = 100

RUN_RETRY: Schema = prop(
    obj(
        {
            "attempts": prop(
                {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
                "How many runs in all for one delivery, the first included (default 1: a "
                "failed run is not run again); after the last, the delivery is dead.",
                3,
            ),
            "backoff": prop(
                DURATION,
                "Wait before the second run (default 30s); each later wait doubles.",
                "30s",
                "1m",
            ),
            "max_backoff": prop(
                DURATION,
                "Longest wait between two runs (default 1h).",
                "1h",
            ),
        }
    ),
    "Run the whole pipeline again when a run fails (run-level retry; a step's own "
    "`retry` is tried first).",
    {"attempts": 3, "backoff": "1m"},
)


@dataclass(frozen=True)
class RunRetry:
    """How many runs one delivery gets, and the waits between them (seconds)."""

    attempts: int = 1
    backoff: float = 30.0
    max_backoff: float = 3600.0

    def delay(self, failed: int) -> float | None:
        """Seconds to wait after attempt number ``failed`` (1 = the first) failed; None
        when that was the last attempt."""
        if failed >= self.attempts:
            return None
        return min(self.backoff * 2 ** (failed - 1), self.max_backoff)


def _seconds(value: Any, default: float) -> float:
    from .._plan import MAX_DURATION, parse_duration

    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except ValueError:
        return default  # the schema reported it at load time
    return min(max(seconds, 0.0), MAX_DURATION)


def run_retry(config: Mapping[str, Any]) -> RunRetry:
    """The run-level retry of a trigger's (validated) config."""
    raw = config.get("retry")
    if not isinstance(raw, Mapping):
        return RunRetry()
    attempts = raw.get("attempts", 1)
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        attempts = 1
    return RunRetry(
        attempts=min(max(attempts, 1), MAX_ATTEMPTS),
        backoff=_seconds(raw.get("backoff"), RunRetry.backoff),
        max_backoff=_seconds(raw.get("max_backoff"), RunRetry.max_backoff),
    )


class _Durations(Protocol):
    def duration(self, path: tuple[Any, ...]) -> float | None: ...


def check_run_retry(builder: _Durations, kind: str) -> None:
    """Load-time checks of ``trigger.<kind>.retry``: durations over 0 and at most 30 days
    (the plan's rule for every duration), reported with their location."""
    for key in ("backoff", "max_backoff"):
        builder.duration(("trigger", kind, "retry", key))
