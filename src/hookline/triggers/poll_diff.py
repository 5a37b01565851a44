"""The comparison at the heart of a poll trigger: a listing against the baseline.

A poll runs a listing step, reads each record's id and change marker, and compares them
with the ids and markers its last complete poll remembered (the *baseline*). This module
is that comparison only: no I/O, no clock, so the scheduler, ``run-pipeline`` and the
tests share one definition of "created", "updated" and "deleted".

The rules (docs/schedules.md, "Polling for changes"):

- *created*: an id the baseline does not hold; *updated*: an id it holds with another
  marker; *deleted*: an id it holds that a **complete** listing lacks. A listing cut short
  (``max_pages`` reached, a timeout) never yields "deleted": a missing record may only be
  on a page that was not read.
- The first poll (no baseline) fires nothing unless ``fire_on_first_poll`` is set; it then
  fires every record as created.
- A bad record (no usable id, an id or marker that is not a string or a number) fails the
  whole poll: nothing fires and the old baseline is kept, since skipping the record would
  make it look deleted next time.
- More than ``max_records`` records fails the poll the same way: the baseline's size is
  bounded so that a runaway listing cannot fill the disk or the memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CHANGE_KINDS",
    "MAX_RECORDS",
    "Change",
    "PollDiff",
    "PollProblem",
    "compare",
    "default_marker",
    "delivery_key",
    "marker_text",
]

ChangeKind = Literal["created", "updated", "deleted"]
#: The kinds of change, in the order a poll fires them.
CHANGE_KINDS: tuple[ChangeKind, ...] = ("created", "updated", "deleted")
#: Records one pipeline's baseline may hold (default of the trigger's ``max_records``).
MAX_RECORDS = 100_000
#: Longest id or marker text kept, in characters: a longer one is a poll error rather
#: than a silent cut (two ids cut to the same text would merge into one record).
MAX_KEY_CHARS = 512


class PollProblem(ValueError):
    """Why a poll fires nothing; the message is plain and never quotes a record."""


@dataclass(frozen=True)
class Change:
    """One record's change, as the run it starts receives it (``as_input``)."""

    kind: ChangeKind
    id: str
    marker: str | None  # the record's marker text now (None when deleted)
    previous_marker: str | None  # the baseline's (None when created)
    record: Any  # the listing's record (None when deleted: only its id is known)

    def as_input(self) -> dict[str, Any]:
        return {
            "change": self.kind,
            "id": self.id,
            "record": self.record,
            "previous_marker": self.previous_marker,
        }


@dataclass(frozen=True)
class PollDiff:
    """What one poll found: the changes to fire and the baseline to keep after them."""

    changes: list[Change] = field(default_factory=list)
    baseline: dict[str, str] = field(default_factory=dict)  # id -> marker text
    first_poll: bool = False
    complete: bool = True
    duplicates: int = 0  # records whose id an earlier record of the listing had


def default_marker(record: Any) -> str:
    """A hash of the record's canonical JSON: any change of any field is an update."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def marker_text(value: Any, *, what: str = "marker") -> str:
    """The text a marker (or an id) is stored and compared as.

    Strings are kept as they are; numbers as their JSON text, so 5 and "5" are the same
    id (APIs are not consistent about it), and a run's ``previous_marker`` is this text.
    Anything else is refused: an object or a list as an id is almost always a wrong
    expression.
    """
    if isinstance(value, bool) or value is None:
        raise PollProblem(f"the {what} is {json.dumps(value)}; expected a string or a number")
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = json.dumps(value)
    else:
        kind = "an object" if isinstance(value, Mapping) else "an array"
        raise PollProblem(f"the {what} is {kind}; expected a string or a number")
    if not text:
        raise PollProblem(f"the {what} is an empty string")
    if len(text) > MAX_KEY_CHARS:
        raise PollProblem(
            f"the {what} is {len(text):,} characters long; at most {MAX_KEY_CHARS} are kept"
        )
    return text


def delivery_key(pipeline: str, change: Change) -> str:
    """The intake's dedup key of a change's run: a re-fire of the same change (after a
    crash between queueing and committing the baseline) is refused as a duplicate."""
    return f"poll:{pipeline}:{change.kind}:{change.id}:{change.marker or change.previous_marker}"


def compare(
    baseline: Mapping[str, str] | None,
    records: Iterable[Any],
    *,
    id_of: Callable[[Any], Any],
    marker_of: Callable[[Any], Any] | None = None,
    complete: bool = True,
    kinds: Iterable[str] = CHANGE_KINDS,
    fire_on_first_poll: bool = False,
    max_records: int = MAX_RECORDS,
) -> PollDiff:
    """Compare one listing with ``baseline`` (None: no poll has completed yet).

    ``id_of`` and ``marker_of`` read a record's id and marker (the trigger's ``id`` and
    ``marker`` expressions); without ``marker_of`` the marker is ``default_marker``.
    ``complete`` is False when the listing was cut short. ``kinds`` are the changes the
    trigger fires; the others still update the baseline.

    The new baseline of a cut listing keeps the baseline's ids that it did not see, so
    that a record on an unread page is neither deleted nor re-created by the next poll.
    Raises PollProblem (fire nothing, keep the old baseline) on a bad record or too many.
    """
    wanted = set(kinds)
    seen: dict[str, str] = {}
    found: dict[str, Any] = {}
    duplicates = 0
    for index, record in enumerate(records):
        where = f"record {index + 1} of the listing"
        try:
            ident = marker_text(id_of(record), what="id")
            marker = marker_text(
                marker_of(record) if marker_of else default_marker(record), what="marker"
            )
        except PollProblem as exc:
            raise PollProblem(f"{where}: {exc}") from None
        if ident in seen:
            duplicates += 1  # a record that moved between pages: the last read wins
        elif len(seen) >= max_records:
            raise PollProblem(
                f"the listing has more than {max_records:,} records (the trigger's "
                "max_records); nothing fired and the last baseline is kept"
            )
        seen[ident] = marker
        found[ident] = record

    first = baseline is None
    old: Mapping[str, str] = baseline or {}
    changes: list[Change] = []
    if not first or fire_on_first_poll:
        for ident, marker in seen.items():
            before = old.get(ident)
            if before is None:
                kind: ChangeKind = "created"
            elif before != marker:
                kind = "updated"
            else:
                continue
            changes.append(Change(kind, ident, marker, before, found[ident]))
    new = dict(seen)
    for ident, before in old.items():
        if ident in seen:
            continue
        if complete:
            changes.append(Change("deleted", ident, None, before, None))
        else:
            new[ident] = before  # maybe on a page not read: keep it, fire nothing
    if len(new) > max_records:
        raise PollProblem(
            f"the baseline would hold more than {max_records:,} records (the trigger's "
            "max_records); nothing fired and the last baseline is kept"
        )
    order = {kind: rank for rank, kind in enumerate(CHANGE_KINDS)}
    fired = [c for c in changes if c.kind in wanted]
    fired.sort(key=lambda c: order[c.kind])  # stable: listing order within a kind
    return PollDiff(fired, new, first, complete, duplicates)
