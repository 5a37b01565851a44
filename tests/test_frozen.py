"""``Frozen`` classes behave as the frozen dataclasses they replace did."""

from __future__ import annotations

import pickle

import pytest

from hookline._model import OnError, RetryPolicy, Step


def test_fields_by_position_or_name_with_their_defaults() -> None:
    policy = RetryPolicy(3, max_delay=10.0)
    assert (policy.attempts, policy.initial_delay, policy.max_delay) == (3, 0.5, 10.0)
    assert policy.on_status == frozenset({429, 502, 503, 504})
    assert Step("a", "set", None, "p.yaml:3:5").on_error == OnError()


def test_no_field_can_be_assigned_or_deleted() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError, match="cannot assign to field 'attempts'"):
        policy.attempts = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'attempts'"):
        del policy.attempts  # type: ignore[misc]
    with pytest.raises(AttributeError):
        policy.other = 1  # type: ignore[attr-defined]


def test_equality_hash_and_repr_by_value() -> None:
    assert RetryPolicy(2) == RetryPolicy(2)
    assert RetryPolicy(2) != RetryPolicy(3)
    assert RetryPolicy(2) != OnError()
    assert len({RetryPolicy(2), RetryPolicy(2), RetryPolicy(3)}) == 2
    assert repr(OnError("continue")) == "OnError(mode='continue', steps=())"


def test_replace_makes_a_changed_copy_and_refuses_unknown_fields() -> None:
    policy = RetryPolicy(2)
    changed = policy.replace(idempotent=True)
    assert (changed.attempts, changed.idempotent, policy.idempotent) == (2, True, False)
    with pytest.raises(TypeError, match="RetryPolicy has no field 'attempt'"):
        policy.replace(attempt=3)


def test_a_pickled_copy_is_equal() -> None:
    policy = RetryPolicy(4, on_status=frozenset({503}))
    assert pickle.loads(pickle.dumps(policy)) == policy


def test_problems_sort_by_file_line_column_and_message() -> None:
    from hookline._errors import Problem

    found = [
        Problem("b.yaml", 1, 1, "x"),
        Problem("a.yaml", 9, 2, "y"),
        Problem("a.yaml", 9, 1, "z"),
    ]
    assert [str(p) for p in sorted(found)] == ["a.yaml:9:1: z", "a.yaml:9:2: y", "b.yaml:1:1: x"]
    assert Problem("a.yaml", 1, 1, "m") <= Problem("a.yaml", 1, 1, "m")
    assert pickle.loads(pickle.dumps(found[0])) == found[0]
