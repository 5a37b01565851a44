"""The schedule trigger: a cron expression, checked with croniter when the file loads.

``hookline serve`` fires it (``hookline.serve._scheduler``); ``hookline cron`` prints a
crontab line for it. Both read it through ``schedule_of``. docs/schedules.md says how
time zones, DST, overlap and missed fires behave.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._schemabits import Schema, obj, prop
from ._run_retry import RUN_RETRY, check_run_retry

if TYPE_CHECKING:
    from .._model import Pipeline

Overlap = Literal["skip", "queue"]
Missed = Literal["skip", "run_once"]
DEFAULT_TIMEZONE = "UTC"
DEFAULT_OVERLAP: Overlap = "skip"
DEFAULT_MISSED: Missed = "skip"

SCHEMA: Schema = prop(
    obj(
        {
            "cron": prop(
                {"type": "string", "minLength": 1},
                "When to run, as a five-field cron expression (minute hour day month weekday).",
                "*/15 * * * *",
                "0 6 * * mon-fri",
            ),
            "timezone": prop(
                {"type": "string", "minLength": 1},
                "IANA time zone the cron expression is read in (default UTC).",
                "Europe/Madrid",
                "UTC",
            ),
            "input": prop(
                {},
                "The input each scheduled run receives (default: an empty object).",
                {"since": "yesterday"},
            ),
            "overlap": prop(
                {"enum": ["skip", "queue"]},
                "A fire while a run of this pipeline is still queued or running: 'skip' "
                "(default) skips it and logs that; 'queue' queues it, to run when the "
                "pipeline's `concurrency` allows.",
                "skip",
                "queue",
            ),
            "missed": prop(
                {"enum": ["skip", "run_once"]},
                "Fires that fell while `hookline serve` was not running: 'skip' (default) "
                "logs and skips them; 'run_once' runs the pipeline once, at start, for all "
                "of them.",
                "skip",
                "run_once",
            ),
            "retry": RUN_RETRY,
        },
        required=["cron"],
    ),
    "Run on a cron schedule (acted on by `hookline serve`).",
    {"cron": "0 * * * *"},
)


_FIELDS = (  # name, lowest, highest, names allowed
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        tuple(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    ),
    ("weekday", 0, 7, tuple(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])),
)
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _field_problem(text: str, index: int) -> str | None:
    """Why one cron field is wrong, in words, or None when it looks right."""
    name, low, high, names = _FIELDS[index]
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"the step '/{step}' in the {name} field must be a whole number of 1 or more"
        if base in ("*", "?", "L") or "#" in base:
            continue
        if base.endswith(("L", "l")) and base[:-1].isdigit():  # 5L: the last friday
            base = base[:-1]
        for part in base.split("-") if base else [""]:
            if not part:
                return f"the {name} field has an empty value (a stray ',' or '-'?)"
            if part.isdigit():
                if not low <= int(part) <= high:
                    return f"{name} {part} is out of range ({low}-{high})"
            elif part.lower() not in names:
                kinds = f"a number {low}-{high}" + (
                    f" or a name ({names[0]}-{names[-1]})" if names else ""
                )
                return f"'{part}' in the {name} field is not {kinds}"
    return None


def cron_problem(expression: str) -> str | None:
    """Why croniter rejects ``expression``, or None when it is valid."""
    from croniter import croniter  # imported only for pipelines that have a schedule

    fields = expression.split()
    if len(fields) != 5:
        nickname = _NICKNAMES.get(expression.strip().lower())
        hint = f"; for {expression.strip()} write '{nickname}'" if nickname else ""
        return (
            f"invalid cron expression '{expression}': expected 5 fields "
            f"(minute hour day month weekday), got {len(fields)}{hint}"
        )
    for index, text in enumerate(fields):
        problem = _field_problem(text, index)
        if problem:
            return f"invalid cron expression '{expression}': {problem}"
    try:
        croniter(expression)
    except (ValueError, KeyError) as exc:
        reason = re.sub(r"^\[[^\]]*\]\s*", "", str(exc)).strip()  # croniter repeats it
        reason = reason.removeprefix("is not acceptable").lstrip(". ")
        return f"invalid cron expression '{expression}'" + (
            f": {reason}" if reason else " (fields: minute hour day month weekday)"
        )
    return None


def timezone_problem(name: Any) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Europe' is a folder
        from zoneinfo import available_timezones

        from .._plan import did_you_mean

        zones = sorted(available_timezones())
        inside = [z for z in zones if z.startswith(f"{name}/")]
        if inside:  # 'Europe'
            return (
                f"unknown time zone '{name}': it is a region; name a place in it, such as "
                f"'{inside[0]}'"
            )
        hint = did_you_mean(str(name), zones)
        return (
            f"unknown time zone '{name}'{hint} (use an IANA name such as 'Europe/Madrid' or 'UTC')"
        )
    return None


@dataclass(frozen=True)
class Schedule:
    """A scheduled pipeline, as the scheduler and ``hookline cron`` read it."""

    pipeline: str
    cron: str
    timezone: str = DEFAULT_TIMEZONE
    overlap: Overlap = DEFAULT_OVERLAP
    missed: Missed = DEFAULT_MISSED
    input: Any = None


def schedule_of(pipeline: Pipeline) -> Schedule | None:
    """The schedule of a (valid) pipeline, or None when its trigger is not a schedule."""
    if pipeline.trigger.kind != "schedule":
        return None
    config: Mapping[str, Any] = pipeline.trigger.config
    return Schedule(
        pipeline=pipeline.name,
        cron=str(config["cron"]),
        timezone=str(config.get("timezone") or DEFAULT_TIMEZONE),
        overlap="queue" if config.get("overlap") == "queue" else DEFAULT_OVERLAP,
        missed="run_once" if config.get("missed") == "run_once" else DEFAULT_MISSED,
        input=config.get("input", {}),
    )


class _Durations(Protocol):
    def duration(self, path: tuple[Any, ...]) -> float | None: ...


def check(builder: _Durations) -> None:
    """Load-time checks beyond the schema: the run-level retry's durations."""
    check_run_retry(builder, "schedule")
