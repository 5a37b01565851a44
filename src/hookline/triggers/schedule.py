"""The schedule trigger: a cron expression, checked with croniter when the file loads."""

from __future__ import annotations

from typing import Any

from .._schemabits import Schema, obj, prop

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
        },
        required=["cron"],
    ),
    "Run on a cron schedule (acted on by `hookline serve`).",
    {"cron": "0 * * * *"},
)


def cron_problem(expression: str) -> str | None:
    """Why croniter rejects ``expression``, or None when it is valid."""
    from croniter import croniter  # imported only for pipelines that have a schedule

    fields = expression.split()
    if len(fields) != 5:
        return (
            f"invalid cron expression '{expression}': expected 5 fields "
            f"(minute hour day month weekday), got {len(fields)}"
        )
    try:
        croniter(expression)
    except (ValueError, KeyError) as exc:
        return f"invalid cron expression '{expression}': {exc}"
    return None


def timezone_problem(name: Any) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}' (use an IANA name such as 'Europe/Madrid' or 'UTC')"
    return None
