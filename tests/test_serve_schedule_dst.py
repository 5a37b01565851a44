"""Fire instants across DST changes, by the rule of Debian's cron (see _crontime.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hookline._crontime import CronTimes, is_wildcard


def fires(expression: str, zone: str, start: str, count: int) -> list[str]:
    """The next ``count`` fires after local time ``start``, as local ISO times."""
    tz = ZoneInfo(zone)
    times = CronTimes(expression, zone)
    instant = datetime.fromisoformat(start).replace(tzinfo=tz).timestamp()
    out = []
    for _ in range(count):
        instant = times.next_after(instant)
        out.append(datetime.fromtimestamp(instant, tz).isoformat(timespec="minutes"))
    return out


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"),
    [
        # New York springs forward at 02:00 on 2026-03-08: 02:30 fires at 03:00 EDT.
        (
            "30 2 * * *",
            "America/New_York",
            "2026-03-07T12:00",
            ["2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"],
        ),
        # ... and falls back at 02:00 on 2026-11-01: 01:30 happens twice, fires once.
        (
            "30 1 * * *",
            "America/New_York",
            "2026-10-31T12:00",
            ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
        ),
        # Lord Howe moves by 30 minutes: 02:15 does not exist on 2026-10-04.
        (
            "15 2 * * *",
            "Australia/Lord_Howe",
            "2026-10-03T12:00",
            ["2026-10-04T02:30+11:00", "2026-10-05T02:15+11:00"],
        ),
        # An hourly schedule skips the hour that does not exist and nothing else.
        (
            "0 * * * *",
            "Europe/Madrid",
            "2026-03-29T00:30",
            ["2026-03-29T01:00+01:00", "2026-03-29T03:00+02:00", "2026-03-29T04:00+02:00"],
        ),
        # ... and fires in both passes of the repeated hour.
        (
            "0 * * * *",
            "Europe/Madrid",
            "2026-10-25T01:30",
            ["2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00", "2026-10-25T03:00+01:00"],
        ),
        # Sparse schedules: weekdays, a leap day.
        (
            "0 6 * * mon-fri",
            "Europe/Madrid",
            "2026-03-27T12:00",
            ["2026-03-30T06:00+02:00", "2026-03-31T06:00+02:00"],
        ),
        ("0 0 29 2 *", "UTC", "2026-01-01T00:00", ["2028-02-29T00:00+00:00"]),
    ],
)
def test_fire_times(expression, zone, start, expected):
    assert fires(expression, zone, start, len(expected)) == expected


def test_wildcard_is_the_minute_or_hour_field_starting_with_a_star():
    assert is_wildcard("*/15 * * * *")
    assert is_wildcard("0 * * * *")
    assert is_wildcard("5 */2 * * *")
    assert not is_wildcard("30 2 * * *")
    assert not is_wildcard("0,30 1-3 * * *")


def test_missed_fires_are_counted_and_the_last_one_named():
    times = CronTimes("*/5 * * * *")
    start = datetime.fromisoformat("2026-03-02T10:00:00+00:00").timestamp()
    assert times.previous_at_or_before(start + 3600, start) == (start + 3600, 12)
    assert times.previous_at_or_before(start + 299, start) is None
    # A month down: counting stops at 1000, the last fire is still the right one.
    last, count = times.previous_at_or_before(start + 30 * 86400 + 60, start)  # type: ignore[misc]
    assert (last, count) == (start + 30 * 86400, 1000)
