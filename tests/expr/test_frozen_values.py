"""Expression, Reference and Call are written-out frozen classes (for start-up time): they
behave as the frozen dataclasses they were."""

from __future__ import annotations

import pickle

import pytest

from hookline.expr import Expression, compile_expression
from hookline.expr._refs import Call, Reference, calls, references


def test_an_expression_is_a_frozen_value() -> None:
    expr = compile_expression("steps.get.body.id", where="p.yaml:3:9")
    assert isinstance(expr, Expression)
    same = Expression(expr.source, expr.parsed, expr.offset, expr.where)
    assert same == expr and hash(same) == hash(expr)
    assert expr.replace(where="p.yaml:4:1") != expr
    assert expr.replace(where="p.yaml:4:1").where == "p.yaml:4:1"
    assert expr.replace(where="p.yaml:4:1").source == "steps.get.body.id"
    with pytest.raises(AttributeError, match="cannot assign to field 'where'"):
        expr.where = "elsewhere"  # type: ignore[misc]
    with pytest.raises(TypeError, match="has no field 'line'"):
        expr.replace(line=3)


def test_an_expression_pickles_and_still_evaluates() -> None:
    # check sends problems and plans between processes.
    expr = compile_expression("upper(input.name)", where="p.yaml:3:9")
    back = pickle.loads(pickle.dumps(expr))
    assert (back.source, back.offset, back.where) == (expr.source, expr.offset, expr.where)
    assert back.evaluate({"input": {"name": "ana"}}) == "ANA"


def test_references_and_calls_compare_by_value() -> None:
    parsed = compile_expression("join(',', steps.get.body.ids)").parsed.parsed
    assert references(parsed) == [Reference("steps", "get")]
    assert calls(parsed) == [Call("join", 2)]
    assert {Call("join", 2), Call("join", 2)} == {Call("join", 2)}
    assert Reference("input", None) != Reference("input", "name")
    assert repr(Call("join", 2)) == "Call(name='join', nargs=2)"
    assert pickle.loads(pickle.dumps(Reference("steps", "get"))) == Reference("steps", "get")
