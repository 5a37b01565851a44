"""When a cron expression fires, as instants (UTC epoch seconds), across DST changes.

A cron expression speaks of wall-clock times in a time zone; a scheduler needs instants.
Twice a year the two disagree, and hookline follows the rule of Debian's cron (cron(8),
"Daylight Saving Time and other time changes"), so that a pipeline moved from system
cron to ``hookline serve`` (or back) fires the same way:

- A **fixed-time** expression (neither the minute nor the hour field starts with ``*``,
  e.g. ``30 2 * * *``): a wall time that does not exist (the spring-forward gap) fires
  once, at the first instant after the gap (03:00 when 02:00-02:59 is skipped); a wall
  time that happens twice (the fall-back overlap) fires once, the first time.
- A **wildcard** expression (``*/15 * * * *``, ``0 * * * *``): it follows the actual wall
  clock: minutes of a gap do not exist and do not fire; the repeated hour fires again,
  so "every 15 minutes" stays every 15 real minutes.

``croniter`` steps through naive wall times; this module maps each to its instants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

# A wall time and the instant it names are at most this far apart, plus the largest DST
# jump (2 h at Troll): the window searched around a DST change.
_MARGIN = timedelta(hours=3)
# No time zone changes its offset twice within this span, so equal offsets at both ends
# mean no change in between (Morocco's Ramadan changes are about a month apart).
_QUIET_SPAN = 7 * 86400.0


def is_wildcard(expression: str) -> bool:
    """True when the minute or the hour field starts with '*' (cron(8)'s "wildcard")."""
    fields = expression.split()
    return len(fields) >= 2 and (fields[0].startswith("*") or fields[1].startswith("*"))


@dataclass(frozen=True)
class CronTimes:
    """The fire instants of one cron expression read in one time zone."""

    expression: str
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))

    @cached_property
    def wildcard(self) -> bool:
        return is_wildcard(self.expression)

    def _iter(self, start: datetime) -> Any:
        from croniter import croniter  # imported only where schedules are acted on

        return croniter(self.expression, start)

    def _local(self, instant: float) -> datetime:
        """The naive wall time at ``instant``."""
        return datetime.fromtimestamp(instant, self._zone).replace(tzinfo=None)

    def _offset(self, instant: float) -> timedelta | None:
        return datetime.fromtimestamp(instant, self._zone).utcoffset()

    def instants(self, wall: datetime) -> list[float]:
        """The instants that wall time ``wall`` (naive) fires at, by the rule above."""
        found = []
        for fold in (0, 1):
            aware = wall.replace(tzinfo=self._zone, fold=fold)
            instant = aware.astimezone(UTC).timestamp()
            if self._local(instant) == wall and instant not in found:
                found.append(instant)
        if found:
            return found if self.wildcard else found[:1]  # fold 0 happens first
        return [] if self.wildcard else [self._gap_end(wall)]

    def _gap_end(self, wall: datetime) -> float:
        """The first instant whose wall time is past ``wall``, a time in a DST gap."""
        before = wall.replace(tzinfo=self._zone, fold=1).astimezone(UTC).timestamp()
        after = wall.replace(tzinfo=self._zone, fold=0).astimezone(UTC).timestamp()
        low, high = int(min(before, after)), int(max(before, after)) + 1
        while low < high:  # wall time only rises between the two: a binary search
            middle = (low + high) // 2
            if self._local(middle) > wall:
                high = middle
            else:
                low = middle + 1
        return float(low)

    def next_after(self, after: float) -> float:
        """The first fire instant strictly after ``after`` (epoch seconds)."""
        start = self._local(after)
        wall = self._iter(start).get_next(datetime)
        fast = self.instants(wall)
        if len(fast) == 1 and after < fast[0] <= after + _QUIET_SPAN:
            margin = _MARGIN.total_seconds()
            offsets = {self._offset(t) for t in (after - margin, after, fast[0], fast[0] + margin)}
            if len(offsets) == 1:  # no DST change near: the first wall time is the answer
                return fast[0]
        return self._search(after, start)

    def _search(self, after: float, start: datetime) -> float:
        """Near a DST change: wall times are not in the order of their instants, so walk
        the wall times from before ``after`` and keep the earliest instant past it."""
        steps = self._iter(start - _MARGIN)
        best: float | None = None
        while True:
            wall = steps.get_next(datetime)
            if best is not None and wall > self._local(best) + _MARGIN:
                return best
            for instant in self.instants(wall):
                if instant > after and (best is None or instant < best):
                    best = instant

    def previous_at_or_before(self, instant: float, since: float) -> tuple[float, int] | None:
        """The last fire in (``since``, ``instant``] and how many fell there (counted up
        to 1000), or None when none did: the fires missed while the service was down."""
        count, last, at = 0, None, since
        while count < 1000:
            at = self.next_after(at)
            if at > instant:
                break
            count, last = count + 1, at
        if last is None:
            return None
        if count == 1000:  # too many to walk: jump to the latest one
            wall = self._iter(self._local(instant) + timedelta(minutes=1)).get_prev(datetime)
            fires = [t for t in self.instants(wall) if t <= instant]
            last = max(fires) if fires else last
        return last, count
