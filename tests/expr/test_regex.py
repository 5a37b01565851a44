"""regex_match, regex_extract, regex_extract_all, regex_replace: results, limits, errors.

The time limit is tested on a pattern that backtracks without end (``^(a|aa)+$`` on a
run of ``a`` ending in ``b``): with Python's ``re`` it would run for years."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jexc

from hookline.expr import ExpressionError, compile_expression
from hookline.expr._fn_regex import MAX_PATTERN, MAX_REPEAT, REGEX_BUDGET
from hookline.expr._functions import MAX_TEXT, OPTIONS

HOSTILE = "a" * 64 + "b"
EXPONENTIAL = "^(a|aa)+$"


def search(expression: str, data: Any = None) -> Any:
    return jmespath.search(expression, data, options=OPTIONS)


def error(expression: str, data: Any = None) -> str:
    with pytest.raises(jexc.JMESPathError) as info:
        search(expression, data)
    return str(info.value)


def test_match_finds_anywhere_and_anchors_hold() -> None:
    assert search("regex_match(@, 'b+')", "aabbcc") is True
    assert search("regex_match(@, '^b+$')", "aabbcc") is False
    assert search(r"regex_match(@, '(?i)^VIP\b')", "vip customer") is True


def test_extract_group_rules() -> None:
    text = "INV-2024-0042"
    assert search(r"regex_extract(@, 'INV-\d+-\d+')", text) == "INV-2024-0042"  # no group
    assert search(r"regex_extract(@, 'INV-(\d+)-(\d+)')", text) == "2024"  # group 1
    assert search(r"regex_extract(@, 'INV-(\d+)-(\d+)', `2`)", text) == "0042"
    assert search(r"regex_extract(@, 'INV-(\d+)-(\d+)', `0`)", text) == text
    assert search(r"regex_extract(@, '-(?P<year>\d{4})', 'year')", text) == "2024"
    assert search(r"regex_extract(@, 'X(\d)|INV')", text) is None  # group took no part
    assert search(r"regex_extract(@, 'nothing')", text) is None


def test_extract_refuses_a_group_the_pattern_lacks() -> None:
    assert error(r"regex_extract(@, '(\d)', `3`)", "1") == (
        "regex_extract(): no group 3: the pattern has 1 (0 is the whole match)"
    )
    assert error(r"regex_extract(@, '(?P<a>\d)', 'b')", "1") == (
        "regex_extract(): no group named 'b' (names: 'a')"
    )


def test_extract_all() -> None:
    assert search(r"regex_extract_all(@, '#\w+')", "#a #b") == ["#a", "#b"]
    assert search(r"regex_extract_all(@, '#(\w+)')", "#a #b") == ["a", "b"]
    assert search(r"regex_extract_all(@, '\d')", "none") == []


def test_replace_with_groups_and_names() -> None:
    assert search(r"regex_replace(@, '(\d+)-(\d+)', '\2-\1')", "1-2 3-4") == "2-1 4-3"
    assert search(r"regex_replace(@, '(?P<d>\d)', '<\g<d>>')", "a1b2") == "a<1>b<2>"
    assert search("regex_replace(@, '\\s+', ' ')", "a \t\n b") == "a b"


def test_replace_refuses_a_bad_replacement() -> None:
    assert error(r"regex_replace(@, '(a)', '\2')", "a") == (
        "regex_replace(): invalid replacement '\\2': no such group"
    )
    # Even when nothing matches: the mistake is in the pipeline, not in this data.
    assert error(r"regex_replace(@, '(a)', '\g<x>')", "zzz").startswith(
        "regex_replace(): invalid replacement '\\g<x>'"
    )


def test_replace_result_is_bounded() -> None:
    big = "x" * 20_000
    message = error("regex_replace(text, '', big)", {"text": "a" * 1000, "big": big})
    assert (
        message == f"regex_replace(): the result would be over {MAX_TEXT:,} characters (the limit)"
    )


def test_invalid_pattern_names_it() -> None:
    assert error("regex_match(@, '(a')", "a") == (
        "regex_match(): invalid pattern '(a': missing ) at position 2"
    )


def test_pattern_length_limit() -> None:
    pattern = "a" * (MAX_PATTERN + 1)
    assert error("regex_match(s, p)", {"p": pattern, "s": "a"}) == (
        f"regex_match(): the pattern is {MAX_PATTERN + 1:,} characters long "
        f"(the limit is {MAX_PATTERN:,})"
    )
    assert search("regex_match(s, p)", {"p": "a" * MAX_PATTERN, "s": "a" * MAX_PATTERN})


@pytest.mark.parametrize(
    "pattern",
    [
        "a{10001}",
        "(?:a{101}){100}",
        "(?:(?:a{1000}){1000}){1000}",
        r"\d{4294967294}",
        "[x]{20000,}",
    ],
)
def test_fixed_repeats_are_refused_before_compiling(pattern: str) -> None:
    # Compiled, the third would take gigabytes and the fourth minutes: refused at once.
    started = time.monotonic()
    message = error("regex_match(s, p)", {"p": pattern, "s": "a"})
    assert message == (
        f"regex_match(): the pattern's repeat counts ask for more than {MAX_REPEAT:,} "
        "elements (as in a{20000}): write a range such as a{1,20000}, or a smaller count"
    )
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "pattern",
    [
        "a{10000}",
        "(?:a{100}){100}",
        "a{1,100000}",
        r"[{]{5}",
        r"\{9999999}",
        "(?i)(?P<x>a{50}){200}",
    ],
)
def test_ranges_and_real_counts_are_accepted(pattern: str) -> None:
    assert search("regex_match(s, p)", {"p": pattern, "s": ""}) in (True, False)


def test_a_backtracking_pattern_stops_at_the_budget() -> None:
    expr = compile_expression(f"regex_match(s, '{EXPONENTIAL}')")
    started = time.thread_time()  # CPU time, as regex counts it: the machine may be busy
    with pytest.raises(ExpressionError) as info:
        expr.evaluate({"s": HOSTILE})
    assert time.thread_time() - started < REGEX_BUDGET + 1
    assert str(info.value) == (
        f"expression 'regex_match(s, '{EXPONENTIAL}')': regex_match(): matching took more "
        "than 1 s (the time limit for the regular expressions of one expression): a pattern "
        "with nested repeats such as (a+)+ can take exponential time; simplify it"
    )


def test_one_budget_for_every_call_of_one_evaluation() -> None:
    # Twenty hostile items: twenty seconds if each call had its own second.
    expr = compile_expression(f"items[?regex_match(@, '{EXPONENTIAL}')]")
    started = time.thread_time()
    with pytest.raises(ExpressionError, match="matching took more than 1 s"):
        expr.evaluate({"items": [HOSTILE] * 20})
    assert time.thread_time() - started < REGEX_BUDGET + 1
    # The next evaluation has a budget of its own.
    assert compile_expression("regex_match(s, 'a')").evaluate({"s": "a"}) is True


def test_a_run_fails_the_step_and_on_error_sees_it(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: hostile
            steps:
              - id: check
                set: "${{{{ regex_match(input.s, '{EXPONENTIAL}') }}}}"
                on_error:
                  steps:
                    - id: said
                      set: "${{{{ error.message }}}}"
            output: "${{{{ steps.check }}}}"
            """
        ),
        encoding="utf-8",
    )
    started = time.process_time()
    result = cli("run", str(path), "--input", json.dumps({"s": HOSTILE}))
    assert time.process_time() - started < REGEX_BUDGET + 3
    assert result.code == 0, result.err
    assert json.loads(result.out) == (
        f"{path}:5:14: expression 'regex_match(input.s, '{EXPONENTIAL}')': regex_match(): "
        "matching took more than 1 s (the time limit for the regular expressions of one "
        "expression): a pattern with nested repeats such as (a+)+ can take exponential "
        "time; simplify it"
    )


def test_groups_nested_too_deeply_are_a_plain_error(cli: Any, tmp_path: Path) -> None:
    pattern = "(" * 499 + ")" * 499  # regex's parser recurses once per level
    assert error("regex_match(s, p)", {"p": pattern, "s": ""}) == (
        f"regex_match(): the pattern '{pattern[:57]}...' nests groups too deeply"
    )
    path = tmp_path / "p.yaml"
    path.write_text(
        f'version: 1\nname: deep\nsteps:\n  - id: a\n    set: "${{{{ regex_match(input.s, '
        f"'{pattern}') }}}}\"\n",
        encoding="utf-8",
    )
    result = cli("check", str(path))
    assert result.code == 2, result.err
    assert "nests groups too deeply" in result.out
    assert "Traceback" not in result.out + result.err
