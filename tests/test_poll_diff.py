"""The poll trigger's comparison and baseline: created, updated and deleted records, the
first poll, a cut listing, bad records and the records limit, and the baseline kept in a
real history database between polls."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from hookline.triggers.poll_diff import (
    MAX_KEY_CHARS,
    Change,
    PollProblem,
    compare,
    default_marker,
    delivery_key,
)
from hookline.triggers.poll_store import PollStore


def _id(record: Any) -> Any:
    return record.get("id")


def _updated(record: Any) -> Any:
    return record.get("updated_at")


def _kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.kind, c.id) for c in changes]


V1 = [
    {"id": 1, "name": "Ada", "updated_at": "2026-01-01"},
    {"id": 2, "name": "Bob", "updated_at": "2026-01-01"},
    {"id": 3, "name": "Cy", "updated_at": "2026-01-01"},
]
# Bob updated, Cy deleted, Dee created.
V2 = [
    {"id": 1, "name": "Ada", "updated_at": "2026-01-01"},
    {"id": 2, "name": "Bobby", "updated_at": "2026-01-02"},
    {"id": 4, "name": "Dee", "updated_at": "2026-01-02"},
]


def test_first_poll_sets_a_baseline_without_firing() -> None:
    diff = compare(None, V1, id_of=_id, marker_of=_updated)
    assert diff.first_poll
    assert diff.changes == []
    assert diff.baseline == {"1": "2026-01-01", "2": "2026-01-01", "3": "2026-01-01"}


def test_first_poll_fires_every_record_as_created_when_asked() -> None:
    diff = compare(None, V1, id_of=_id, marker_of=_updated, fire_on_first_poll=True)
    assert _kinds(diff.changes) == [("created", "1"), ("created", "2"), ("created", "3")]
    assert diff.changes[0].as_input() == {
        "change": "created",
        "id": "1",
        "record": V1[0],
        "previous_marker": None,
    }


def test_created_updated_and_deleted_in_that_order_with_their_inputs() -> None:
    base = compare(None, V1, id_of=_id, marker_of=_updated).baseline
    diff = compare(base, V2, id_of=_id, marker_of=_updated)
    assert _kinds(diff.changes) == [("created", "4"), ("updated", "2"), ("deleted", "3")]
    updated = diff.changes[1].as_input()
    assert updated == {
        "change": "updated",
        "id": "2",
        "record": V2[1],
        "previous_marker": "2026-01-01",
    }
    deleted = diff.changes[2].as_input()
    assert deleted == {
        "change": "deleted",
        "id": "3",
        "record": None,
        "previous_marker": "2026-01-01",
    }
    assert diff.baseline == {"1": "2026-01-01", "2": "2026-01-02", "4": "2026-01-02"}


def test_a_cut_listing_never_fires_deleted_and_keeps_the_unseen_ids() -> None:
    base = compare(None, V1, id_of=_id, marker_of=_updated).baseline
    # Only the first page was read: 3 is not there, but it may be on the next page.
    diff = compare(base, V2[:2], id_of=_id, marker_of=_updated, complete=False)
    assert _kinds(diff.changes) == [("updated", "2")]
    assert diff.baseline == {"1": "2026-01-01", "2": "2026-01-02", "3": "2026-01-01"}
    # The next complete listing then sees 3 gone, once.
    again = compare(diff.baseline, V2, id_of=_id, marker_of=_updated)
    assert _kinds(again.changes) == [("created", "4"), ("deleted", "3")]


def test_unwanted_kinds_do_not_fire_but_move_the_baseline() -> None:
    base = compare(None, V1, id_of=_id, marker_of=_updated).baseline
    diff = compare(base, V2, id_of=_id, marker_of=_updated, kinds=["deleted"])
    assert _kinds(diff.changes) == [("deleted", "3")]
    assert compare(diff.baseline, V2, id_of=_id, marker_of=_updated).changes == []


def test_without_a_marker_any_field_change_is_an_update() -> None:
    old = [{"id": "a", "name": "Ada", "tags": ["x"]}]
    new = [{"id": "a", "name": "Ada", "tags": ["x", "y"]}]
    base = compare(None, old, id_of=_id).baseline
    assert base == {"a": default_marker(old[0])}
    assert _kinds(compare(base, new, id_of=_id).changes) == [("updated", "a")]
    # Key order is not a change.
    same = [{"tags": ["x"], "name": "Ada", "id": "a"}]
    assert compare(base, same, id_of=_id).changes == []


def test_a_number_id_and_its_text_are_the_same_record() -> None:
    base = compare(None, [{"id": 7, "updated_at": 1}], id_of=_id, marker_of=_updated).baseline
    assert base == {"7": "1"}
    diff = compare(base, [{"id": "7", "updated_at": 1}], id_of=_id, marker_of=_updated)
    assert diff.changes == []


def test_a_record_read_twice_counts_once_and_the_last_read_wins() -> None:
    listing = [*V1, {"id": 2, "name": "Bob", "updated_at": "2026-01-03"}]
    diff = compare(None, listing, id_of=_id, marker_of=_updated)
    assert diff.duplicates == 1
    assert diff.baseline["2"] == "2026-01-03"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"name": "no id"},
            "record 2 of the listing: the id is null; expected a string or a number",
        ),
        ({"id": True}, "record 2 of the listing: the id is true; expected a string or a number"),
        (
            {"id": {"k": 1}},
            "record 2 of the listing: the id is an object; expected a string or a number",
        ),
        ({"id": [1]}, "record 2 of the listing: the id is an array; expected a string or a number"),
        ({"id": ""}, "record 2 of the listing: the id is an empty string"),
        (
            {"id": "x" * (MAX_KEY_CHARS + 1)},
            f"record 2 of the listing: the id is {MAX_KEY_CHARS + 1} characters long; "
            f"at most {MAX_KEY_CHARS} are kept",
        ),
        ({"id": 9}, "record 2 of the listing: the marker is null; expected a string or a number"),
    ],
)
def test_a_bad_record_fails_the_whole_poll_without_quoting_it(
    record: dict[str, Any], message: str
) -> None:
    base = {"1": "2026-01-01"}
    with pytest.raises(PollProblem) as caught:
        compare(base, [V1[0], record], id_of=_id, marker_of=_updated)
    assert str(caught.value) == message


def test_more_records_than_the_limit_fails_the_poll() -> None:
    listing = [{"id": n, "updated_at": 1} for n in range(4)]
    with pytest.raises(PollProblem) as caught:
        compare({}, listing, id_of=_id, marker_of=_updated, max_records=3)
    assert str(caught.value) == (
        "the listing has more than 3 records (the trigger's max_records); nothing fired "
        "and the last baseline is kept"
    )
    # A cut listing whose kept, unseen ids would overflow the baseline fails too.
    base = {str(n): "1" for n in range(10, 13)}
    with pytest.raises(PollProblem, match="the baseline would hold more than 3 records"):
        compare(base, listing[:1], id_of=_id, marker_of=_updated, complete=False, max_records=3)


def test_delivery_keys_repeat_for_a_re_fire_and_differ_for_a_new_change() -> None:
    base = compare(None, V1, id_of=_id, marker_of=_updated).baseline
    first = compare(base, V2, id_of=_id, marker_of=_updated).changes
    again = compare(base, V2, id_of=_id, marker_of=_updated).changes  # after a crash
    keys = [delivery_key("contacts", c) for c in first]
    assert keys == [delivery_key("contacts", c) for c in again]
    assert keys == [
        "poll:contacts:created:4:2026-01-02",
        "poll:contacts:updated:2:2026-01-02",
        "poll:contacts:deleted:3:2026-01-01",
    ]


def test_the_baseline_survives_in_the_history_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    store = PollStore(path)
    assert store.load("contacts") is None  # never polled: a first poll
    first = compare(store.load("contacts"), V1, id_of=_id, marker_of=_updated)
    store.commit("contacts", None, first.baseline)
    store.close()

    store = PollStore(path)  # another process, later
    before = store.load("contacts")
    assert before == first.baseline
    diff = compare(before, V2, id_of=_id, marker_of=_updated)
    assert _kinds(diff.changes) == [("created", "4"), ("updated", "2"), ("deleted", "3")]
    store.commit("contacts", before, diff.baseline)
    assert store.load("contacts") == {"1": "2026-01-01", "2": "2026-01-02", "4": "2026-01-02"}
    assert store.load("other") is None

    # A poll whose runs were not all queued commits nothing: the next poll fires again.
    again = compare(store.load("contacts"), V1, id_of=_id, marker_of=_updated)
    assert _kinds(again.changes) == [("created", "3"), ("updated", "2"), ("deleted", "4")]

    store.forget("contacts")
    assert store.load("contacts") is None
    store.close()
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT count(*) FROM poll_baseline").fetchone()
    assert rows == (0,)


def test_an_empty_complete_listing_is_a_baseline_not_a_first_poll(tmp_path: Path) -> None:
    store = PollStore(tmp_path / "history.sqlite")
    store.commit("contacts", None, {})
    assert store.load("contacts") == {}
    diff = compare(store.load("contacts"), V1[:1], id_of=_id, marker_of=_updated)
    assert not diff.first_poll
    assert _kinds(diff.changes) == [("created", "1")]
    store.close()
