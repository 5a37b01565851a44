"""date_add and date_diff: calendar and clock units, time zones across DST changes."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jexc

from hookline.expr._functions import OPTIONS


def search(expression: str, data: Any = None) -> Any:
    return jmespath.search(expression, data, options=OPTIONS)


def error(expression: str, data: Any = None) -> str:
    with pytest.raises(jexc.JMESPathError) as info:
        search(expression, data)
    return str(info.value)


@pytest.mark.parametrize(
    ("date", "amount", "unit", "zone", "result"),
    [
        # Madrid's clocks go forward at 02:00 on 2024-03-31: a day keeps noon, 24 h do not.
        ("2024-03-30T12:00:00+01:00", 1, "days", "Europe/Madrid", "2024-03-31T12:00:00+02:00"),
        ("2024-03-30T12:00:00+01:00", 24, "hours", "Europe/Madrid", "2024-03-31T13:00:00+02:00"),
        # New York's fall back on 2024-11-03: a day keeps 09:00, 24 h give 08:00.
        ("2024-11-02T09:00:00-04:00", 1, "day", "America/New_York", "2024-11-03T09:00:00-05:00"),
        ("2024-11-02T09:00:00-04:00", 24, "hours", "America/New_York", "2024-11-03T08:00:00-05:00"),
        # A wall-clock time the change skips moves forward by the gap.
        ("2024-03-09T02:30:00-05:00", 1, "days", "America/New_York", "2024-03-10T03:30:00-04:00"),
        # One it repeats is the first of the two.
        ("2024-11-02T01:30:00-04:00", 1, "days", "America/New_York", "2024-11-03T01:30:00-04:00"),
        # The input's offset does not matter, the zone does: UTC in, Madrid out.
        ("2024-07-01T10:00:00Z", 1, "weeks", "Europe/Madrid", "2024-07-08T12:00:00+02:00"),
        ("2024-01-31T09:00:00Z", 1, "months", None, "2024-02-29T09:00:00Z"),
        ("2024-02-29", 1, "years", None, "2025-02-28T00:00:00Z"),
        ("2024-03-31T10:00:00Z", -1, "months", None, "2024-02-29T10:00:00Z"),
        ("2024-05-01T10:00:00+05:30", 90, "minutes", None, "2024-05-01T11:30:00+05:30"),
        (1714557600, 1.5, "seconds", None, "2024-05-01T10:00:01.500000Z"),
        ("2024-05-01T10:00:00Z", 2, "days", "UTC", "2024-05-03T10:00:00Z"),
    ],
)
def test_date_add(date: Any, amount: float, unit: str, zone: str | None, result: str) -> None:
    data = {"d": date, "n": amount, "u": unit, "z": zone}
    expression = "date_add(d, n, u, z)" if zone else "date_add(d, n, u)"
    assert search(expression, data) == result


@pytest.mark.parametrize(
    ("start", "end", "unit", "zone", "result"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T11:30:00Z", "hours", None, 1.5),
        ("2024-05-01T10:00:00Z", "2024-05-01T11:30:00Z", "minutes", None, 90),
        ("2024-05-01T11:30:00Z", "2024-05-01T10:00:00Z", "seconds", None, -5400),
        ("2024-03-30T12:00:00+01:00", "2024-03-31T12:00:00+02:00", "days", "Europe/Madrid", 1),
        ("2024-03-30T12:00:00+01:00", "2024-03-31T12:00:00+02:00", "days", None, 23 / 24),
        ("2024-03-30T12:00:00+01:00", "2024-03-31T12:00:00+02:00", "hours", "Europe/Madrid", 23),
        ("2024-05-01", "2024-05-15", "weeks", None, 2),
        (0, 86400, "day", None, 1),
    ],
)
def test_date_diff(start: Any, end: Any, unit: str, zone: str | None, result: float) -> None:
    data = {"a": start, "b": end, "u": unit, "z": zone}
    expression = "date_diff(a, b, u, z)" if zone else "date_diff(a, b, u)"
    found = search(expression, data)
    assert found == pytest.approx(result)
    if float(result).is_integer():
        assert isinstance(found, int), "a whole result is written as an integer"


def test_mistakes_are_named() -> None:
    assert error("date_add(`0`, `1`, 'fortnight')") == (
        "date_add(): unknown unit 'fortnight' (one of 'seconds', 'minutes', 'hours', 'days', "
        "'weeks', 'months', 'years')"
    )
    assert error("date_diff(`0`, `1`, 'months')") == (
        "date_diff(): unknown unit 'months' (one of 'seconds', 'minutes', 'hours', 'days', 'weeks')"
    )
    assert error("date_add(`0`, `1`, 'days', 'Europe/Madird')") == (
        "date_add(): unknown time zone 'Europe/Madird'; did you mean 'Europe/Madrid'? (an IANA "
        "name such as 'Europe/Madrid' or 'America/New_York', or 'UTC')"
    )
    assert error("date_add(`0`, `1.5`, 'days')") == (
        "date_add(): the number of days must be a whole number, not 1.5"
    )
    assert error("date_add('9999-12-31', `1`, 'days')") == (
        "date_add(): the result is out of range (years 1 to 9999)"
    )
    assert error("date_add('9999-12-31', `1`, 'months')") == (
        "date_add(): the result is out of range (years 1 to 9999)"
    )
    assert error("date_add('someday', `1`, 'days')").startswith(
        "date_add(): cannot parse 'someday' as a date"
    )
    assert error("date_add(`0`, `1`, 'days', '../../etc/passwd')").startswith(
        "date_add(): unknown time zone '../../etc/passwd'"
    )


@pytest.mark.parametrize("zone", ["Europe", "a" * 5000, "Europe/../Madrid", "/etc/localtime", ""])
def test_a_zone_name_never_reaches_the_file_system_as_a_path(zone: str) -> None:
    # zoneinfo reads a file named after the zone: 'Europe' is a directory, 5,000
    # characters a name too long for the file system; both were OSErrors.
    message = error("date_add(`0`, `1`, 'days', z)", {"z": zone})
    assert message.startswith("date_add(): unknown time zone '")
    assert len(message) < 300
