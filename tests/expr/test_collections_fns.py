"""unique, group_by and zip."""

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


def test_unique_compares_as_jmespath_does() -> None:
    data = [1, 1.0, "1", True, None, None, [1, {"a": 1, "b": 2}], [1.0, {"b": 2, "a": 1}], {}]
    assert search("unique(@)", data) == [1, "1", True, None, [1, {"a": 1, "b": 2}], {}]
    assert search("unique(@)", []) == []
    assert search("unique(@)", [False, 0, ""]) == [False, 0, ""]


def test_unique_of_deeply_nested_values() -> None:
    # Deeper than any JSON hookline reads (128 levels) or an expression builds.
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    assert len(search("unique(@)", [deep, deep])) == 1


def test_group_by() -> None:
    data = [{"s": "b", "i": 1}, {"s": "a", "i": 2}, {"s": "b", "i": 3}, {"s": 7, "i": 4}]
    assert search("group_by(@, &s)", data) == {
        "b": [{"s": "b", "i": 1}, {"s": "b", "i": 3}],
        "a": [{"s": "a", "i": 2}],
        "7": [{"s": 7, "i": 4}],
    }
    assert list(search("group_by(@, &s)", data)) == ["b", "a", "7"]
    assert search("group_by(@, &s)", []) == {}


def test_group_by_refuses_a_null_or_odd_key() -> None:
    assert error("group_by(@, &s)", [{"s": "a"}, {"t": 1}]) == (
        "group_by(): element 1 has a null key (a missing field?): give one with default(), "
        "as in &default(status, 'none')"
    )
    assert error("group_by(@, &s)", [{"s": ["a"]}]) == (
        "group_by(): element 0 has an array key; keys must be strings or numbers"
    )
    assert error("group_by(@, &s)", [{"s": {"a": 1}}]) == (
        "group_by(): element 0 has an object key; keys must be strings or numbers"
    )
    assert error("group_by(@, &s)", [{"s": True}]) == (
        "group_by(): element 0 has a boolean key; keys must be strings or numbers"
    )
    assert error("group_by(@, 's')", [{"s": "a"}]) == (
        "group_by(): argument 2 must be an expression reference (&field), not a string: "
        "write the field with & before it, as in &name"
    )


def test_zip() -> None:
    assert search("zip(a, b)", {"a": [1, 2, 3], "b": ["x", "y"]}) == [[1, "x"], [2, "y"]]
    assert search("zip(a, b, c)", {"a": [1], "b": [2], "c": [3]}) == [[1, 2, 3]]
    assert search("zip(a)", {"a": [1, 2]}) == [[1], [2]]
    assert search("zip(a, b)", {"a": [], "b": [1]}) == []


def test_zip_checks_every_argument() -> None:
    # jmespath checks the type of the first variadic argument only; hookline all of them.
    assert error("zip(a, b, c)", {"a": [1], "b": [2], "c": None}) == (
        "zip(): argument 3 is null, where an array is needed (a missing field, or a "
        "step that did not run, is null): give a fallback with default(value, `[]`)"
    )
    assert error("zip(a, b, c)", {"a": [1], "b": [2], "c": "x"}) == (
        "zip(): argument 3 must be an array, not a string"
    )


def test_type_words_take_the_right_article() -> None:
    # "an array", "an object": never "a array" (was so in group_by, from_items, from_entries).
    assert error("from_items(@, 'k', 'v')", [["x"]]) == (
        "from_items(): item 0 is an array, not an object"
    )
    assert error("from_items(@, 'k', 'v')", [{"k": {"a": 1}}]) == (
        "from_items(): item 0 has an object 'k'; keys must be strings or numbers"
    )
    assert error("from_entries(@)", ["x"]) == (
        "from_entries(): entry 0 is a string; expected [key, value] or {key, value}"
    )
    assert error("from_entries(@)", [[["k"], 1]]) == (
        "from_entries(): entry 0 has an array key; keys must be strings or numbers"
    )
