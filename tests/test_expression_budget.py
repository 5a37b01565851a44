"""A runaway expression is stopped by a budget; one nested too deeply to compile is a
located load error. Both as a user sees them, through the command line."""

from __future__ import annotations

import json
import textwrap

import jmespath
import pytest

from hookline.expr import ExpressionError, TemplateSyntaxError, compile_expression
from hookline.expr._budget import EXPRESSION_BUDGET
from hookline.expr._template import Expression

DOUBLING = "[@, @][]" * 40  # a list of 2^40 items, if nothing stops it
PIPED = " | ".join(["[@, @]"] * 60)  # a value holding itself 2^60 times


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("source", [DOUBLING, PIPED, PIPED + " | to_string(@)"])
def test_a_runaway_expression_is_a_clear_error(source):
    expr = compile_expression(source, where="p.yaml:6:14")
    with pytest.raises(ExpressionError) as caught:
        expr.evaluate([1])
    assert str(caught.value).endswith(
        "the expression builds too much data (over 1,000,000 elements, the limit for one "
        "evaluation); does it repeat a list or a value, as in [@, @][]?"
    )
    assert str(caught.value).startswith("p.yaml:6:14: expression '[@, @]")


def test_the_budget_leaves_room_for_ordinary_large_data():
    records = [{"id": i, "name": f"n{i}", "tags": ["a", "b"]} for i in range(20_000)]
    expr = compile_expression("{ids: records[].id, all: records, n: length(records)}")
    out = expr.evaluate({"records": records})
    assert out["n"] == 20_000 and out["all"] is records
    # Up to the limit: a list of 2^17 items is built, one of 2^18 is not (each level is
    # charged twice: the pair, then the flattened list).
    assert len(compile_expression("[@, @][]" * 17).evaluate([1])) == 2**17
    with pytest.raises(ExpressionError):
        compile_expression("[@, @][]" * 18).evaluate([1])
    assert EXPRESSION_BUDGET == 1_000_000


def test_replace_cannot_multiply_a_text_past_the_limit():
    expr = compile_expression("replace(replace(@, 'a', @), 'a', @)")
    with pytest.raises(ExpressionError) as caught:
        expr.evaluate("a" * 5000)
    assert "replace(): the result would be 25,000,000 characters (the limit is 16,777,216)" in (
        str(caught.value)
    )


def test_a_runaway_set_step_fails_the_step_and_on_error_sees_it(cli, tmp_path):
    path = write(
        tmp_path,
        f"""\
        version: 1
        name: runaway
        steps:
          - id: grow
            set: "${{{{ {DOUBLING} }}}}"
            on_error:
              steps:
                - id: said
                  set: "${{{{ error.message }}}}"
        output: "${{{{ steps.grow }}}}"
        """,
    )
    result = cli("run", path, "--input", "[1]", "--db", str(tmp_path / "h.db"))
    assert result.code == 0, result.err
    message = json.loads(result.out)
    assert message.startswith(f"{path}:5:")
    assert message.endswith(
        "the expression builds too much data (over 1,000,000 elements, the limit for one "
        "evaluation); does it repeat a list or a value, as in [@, @][]?"
    )
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "source",
    ["(" * 5000 + "a" + ")" * 5000, "!" * 20000 + "a", "{a:" * 5000 + "b" + "}" * 5000],
)
def test_nested_too_deeply_to_compile_is_a_located_error(source):
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_expression("  " + source, offset=10)
    assert str(caught.value).endswith("…': nested too deeply to compile")
    assert caught.value.offset == 12


def test_check_reports_a_deeply_nested_expression_with_its_place(cli, tmp_path):
    deep = "(" * 5000 + "input" + ")" * 5000
    path = write(
        tmp_path,
        f"""\
        version: 1
        name: deep
        steps:
          - id: deep
            set: "${{{{ {deep} }}}}"
        """,
    )
    result = cli("check", path)
    assert result.code == 2
    assert result.out.startswith(f"{path}:5:15: invalid expression '((((((")
    assert result.out.rstrip().endswith("…': nested too deeply to compile")
    assert len(result.out.splitlines()) == 1
    assert "Traceback" not in result.err and "RecursionError" not in result.out


@pytest.mark.parametrize("operator", ["||", "&&", "==", "|", "<"])
def test_a_long_chain_of_operators_is_a_located_error_in_check(cli, tmp_path, operator):
    chain = f" {operator} ".join(["input"] * 1200)
    path = write(
        tmp_path,
        f"""\
        version: 1
        name: chain
        steps:
          - id: s
            set: "${{{{ {chain} }}}}"
        """,
    )
    result = cli("check", "--no-cache", path)
    assert result.code == 2, result.err
    assert result.out.startswith(f"{path}:5:15: invalid expression 'input {operator} input")
    assert result.out.splitlines()[0].endswith(
        "…': nested too deeply to compile (more than 128 levels of operators, calls or brackets)"
    )
    assert "Traceback" not in result.err and "RecursionError" not in result.out


def test_an_expression_at_the_depth_limit_still_runs(cli, tmp_path):
    chain = " || ".join(["input"] * 128)
    path = write(
        tmp_path,
        f"""\
        version: 1
        name: chain
        steps:
          - id: s
            set: "${{{{ {chain} }}}}"
        output: "${{{{ steps.s }}}}"
        """,
    )
    result = cli("run", path, "--input", '{"a": 1}', "--db", str(tmp_path / "h.db"))
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"a": 1}


def test_a_recursion_error_while_evaluating_is_an_expression_error():
    # Built past the compile-time check, as a tree too deep for the stack would be.
    source = " || ".join(["a"] * 5000)
    expression = Expression(source, jmespath.compile(source), where="p.yaml:3:9")
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate({"a": None})
    message = str(caught.value)
    assert message.startswith("p.yaml:3:9: expression 'a || a || a")
    assert message.endswith("…': the expression or the data is nested too deeply")
    assert len(message) < 300
