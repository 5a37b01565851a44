"""Date functions: the clock, formatting and parsing, arithmetic and differences.

Dates are ISO 8601 text or epoch seconds; a date without an offset is UTC. Arithmetic in
a named time zone (IANA names such as ``Europe/Madrid``, from the standard library's
``zoneinfo``) is DST-correct the way java.time and Luxon are: calendar units (days,
weeks, months, years) keep the wall-clock time, clock units (hours, minutes, seconds)
add elapsed time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from jmespath.functions import signature

from ._fn_text import whole_number
from ._fnbase import FunctionValueError, clip

__all__ = [
    "CALENDAR_UNITS",
    "CLOCK_UNITS",
    "Clock",
    "DateFunctions",
    "iso",
    "time_zone",
    "to_datetime",
    "unit_of",
    "utc_now",
]

Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a date string may look like: RFC 3339 / ISO 8601 extended format. Time, seconds,
# fraction and offset are optional; "T", "t" or a space separates date and time.
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
# Epoch seconds written as a string: optional sign, digits, optional fraction.
_EPOCH_STRING = re.compile(r"[+-]?\d+(?:\.\d+)?")

CLOCK_UNITS = {"second": 1, "minute": 60, "hour": 3600}
"""Units of elapsed time, in seconds."""
CALENDAR_UNITS = {"day": 1, "week": 7, "month": 0, "year": 0}
"""Units of the calendar: days per unit (months and years vary)."""


def unit_of(function_name: str, unit: str, allowed: tuple[str, ...]) -> str:
    """``'days'`` or ``'day'`` as ``'day'``; an unknown unit is an error listing them."""
    word = unit.lower()
    word = word[:-1] if word.endswith("s") else word
    if word not in allowed:
        listed = ", ".join(f"'{u}s'" for u in allowed)
        raise FunctionValueError(function_name, f"unknown unit {unit!r} (one of {listed})")
    return word


# What an IANA zone name may look like; anything else is refused before any file is
# opened (zoneinfo reads a file named after it: 'Europe' is a directory).
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def time_zone(function_name: str, name: str) -> tzinfo:
    """The IANA time zone ``name`` (``Europe/Madrid``, ``UTC``)."""
    import zoneinfo  # only for a call with a time zone: not on the way of every run

    if len(name) <= 64 and _ZONE_NAME.fullmatch(name):
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    import difflib  # only for a mistake

    close = (
        difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        if len(name) <= 64
        else []
    )
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise FunctionValueError(
        function_name,
        f"unknown time zone {clip(name, 70)!r}{hint} (an IANA name such as "
        "'Europe/Madrid' or 'America/New_York', or 'UTC')",
    )


def _from_epoch(function_name: str, seconds: float) -> datetime:
    """The UTC datetime ``seconds`` after 1970-01-01T00:00:00Z."""
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise FunctionValueError(
            function_name, f"epoch seconds {seconds!r} are out of range"
        ) from None


def to_datetime(function_name: str, value: str | float) -> datetime:
    """Read a date argument: epoch seconds (number or numeric string) or ISO 8601 text.

    The result is naive when the input had no offset; callers treat naive as UTC.
    """
    if isinstance(value, int | float):
        return _from_epoch(function_name, value)
    if _EPOCH_STRING.fullmatch(value):
        number = float(value) if "." in value else int(value)
        return _from_epoch(function_name, number)
    if not _ISO_DATE.fullmatch(value):
        raise FunctionValueError(
            function_name,
            f"cannot parse {value!r} as a date "
            "(expected ISO 8601 such as '2024-05-01' or '2024-05-01T10:00:00Z', "
            "or epoch seconds)",
        )
    text = value
    if len(text) > 10:
        text = f"{text[:10]}T{text[11:]}"
    if text.endswith("z"):
        text = text[:-1] + "Z"
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise FunctionValueError(
            function_name, f"cannot parse {value!r} as a date ({exc})"
        ) from None


def _aware(function_name: str, value: str | float) -> datetime:
    moment = to_datetime(function_name, value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 text: ``...Z`` for naive or zero-offset datetimes, else ``...+HH:MM``.

    Seconds are always written; a fraction only when it is not zero.
    """
    offset = moment.utcoffset()
    if offset is None or offset == timedelta(0):
        return moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat()


def _add_months(function_name: str, moment: datetime, months: int) -> datetime:
    """``months`` later on the calendar; the day is clamped to the month's last day."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise FunctionValueError(function_name, "the result is out of range (years 1 to 9999)")
    import calendar  # only for month arithmetic: it loads locale, which a run rarely needs

    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _plain_number(value: float) -> float:
    """An integral float as an int, so that ``86400.0`` is written ``86400``."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class DateFunctions:
    """Mixed into ``HooklineFunctions``; ``_clock`` gives the time for ``now()``."""

    _clock: Clock  # set by HooklineFunctions.__init__

    @signature()
    def _func_now(self) -> str:
        """The current UTC time as ISO 8601 with seconds precision: ``2026-11-24T15:50:45Z``."""
        moment = self._clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso(moment.astimezone(UTC).replace(microsecond=0))

    @signature({"types": ["string", "number"]}, {"types": ["string"]})
    def _func_format_date(self, date: str | float, fmt: str) -> str:
        """Format a date (ISO 8601 text or epoch seconds) with a strftime format.

        A date without an offset is UTC; a date with an offset is formatted in that offset.
        """
        moment = _aware("format_date", date)
        try:
            return moment.strftime(fmt)
        except ValueError as exc:
            raise FunctionValueError("format_date", f"invalid format {fmt!r} ({exc})") from None

    @signature({"types": ["string"]}, {"types": ["string"], "optional": True})
    def _func_parse_date(self, text: str, fmt: str | None = None) -> str:
        """Read a date and return it as ISO 8601.

        With ``fmt`` the text is read with strptime; without, as ISO 8601 or epoch seconds.
        No offset means UTC and gives the ``Z`` form; a non-zero offset is kept.
        """
        if fmt is None:
            return iso(to_datetime("parse_date", text))
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            raise FunctionValueError(
                "parse_date", f"cannot parse {text!r} with format {fmt!r}"
            ) from None
        return iso(moment)

    @signature(
        {"types": ["string", "number"]},
        {"types": ["number"]},
        {"types": ["string"]},
        {"types": ["string"], "optional": True},
    )
    def _func_date_add(
        self, date: str | float, amount: float, unit: str, zone: str | None = None
    ) -> str:
        """``date`` moved by ``amount`` ``unit``s (negative: back), as ISO 8601.

        In ``zone`` (an IANA name) calendar units keep the local wall-clock time across a
        DST change, and the result carries the zone's offset; without it the date's own
        offset is used (UTC when it has none).
        """
        name = "date_add"
        word = unit_of(name, unit, (*CLOCK_UNITS, *CALENDAR_UNITS))
        moment = _aware(name, date)
        where = time_zone(name, zone) if zone is not None else None
        if where is not None:
            moment = moment.astimezone(where)
        try:
            if word in CLOCK_UNITS:
                # Elapsed time: added in UTC, so that an hour is an hour across a DST change.
                shifted = moment.astimezone(UTC) + timedelta(seconds=amount * CLOCK_UNITS[word])
                result = shifted.astimezone(moment.tzinfo)
            else:
                count = whole_number(name, f"the number of {word}s", amount)
                local = moment.replace(tzinfo=None)
                if word in ("month", "year"):
                    local = _add_months(name, local, count * (12 if word == "year" else 1))
                else:
                    local = local + timedelta(days=count * CALENDAR_UNITS[word])
                # A wall-clock time a DST change skips is moved forward by the gap, and one
                # it repeats is the first of the two (fold=0), as java.time does.
                result = local.replace(tzinfo=moment.tzinfo).astimezone(UTC)
                result = result.astimezone(moment.tzinfo)
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, FunctionValueError):
                raise
            raise FunctionValueError(name, "the result is out of range (years 1 to 9999)") from None
        return iso(result)

    @signature(
        {"types": ["string", "number"]},
        {"types": ["string", "number"]},
        {"types": ["string"]},
        {"types": ["string"], "optional": True},
    )
    def _func_date_diff(
        self, start: str | float, end: str | float, unit: str, zone: str | None = None
    ) -> float:
        """How many ``unit``s from ``start`` to ``end`` (negative when ``end`` is earlier).

        Clock units count elapsed time. Days and weeks count the calendar of ``zone`` (so
        noon to noon the next day is 1 day even when a DST change made it 23 hours), or
        of UTC without it. Fractions are kept: floor() gives whole units.
        """
        name = "date_diff"
        word = unit_of(name, unit, ("second", "minute", "hour", "day", "week"))
        first, last = _aware(name, start), _aware(name, end)
        if word in CLOCK_UNITS:
            seconds = (last - first).total_seconds()
            return _plain_number(seconds / CLOCK_UNITS[word])
        where: Any = time_zone(name, zone) if zone is not None else UTC
        # The wall-clock difference: what a calendar on the wall in that zone shows.
        local = last.astimezone(where).replace(tzinfo=None) - first.astimezone(where).replace(
            tzinfo=None
        )
        return _plain_number(local.total_seconds() / (86400 * CALENDAR_UNITS[word]))
