"""Numbers an expression builds stay writable: sum() refuses an integer too long for JSON
text (more than 4,300 digits), instead of a crash when the result is written."""

from __future__ import annotations

import json
import textwrap

import jmespath
import pytest
from jmespath import exceptions as jexc

from hookline.expr._functions import MAX_INTEGER_DIGITS, OPTIONS

BIG = int("9" * MAX_INTEGER_DIGITS)  # the longest integer JSON input may hold


def test_sum_refuses_an_integer_longer_than_the_limit():
    with pytest.raises(jexc.JMESPathError) as caught:
        jmespath.search("sum(@)", [BIG, 1], options=OPTIONS)
    assert str(caught.value) == "sum(): the result has more than 4,300 digits"
    with pytest.raises(jexc.JMESPathError):
        jmespath.search("sum(@)", [-BIG, -1], options=OPTIONS)


def test_sum_up_to_the_limit_and_of_floats_is_unchanged():
    assert jmespath.search("sum(@)", [BIG - 1, 1], options=OPTIONS) == BIG
    assert jmespath.search("sum(@)", [1.5, 2, 3], options=OPTIONS) == 6.5
    assert jmespath.search("sum(@)", [], options=OPTIONS) == 0


def test_a_huge_sum_is_a_step_failure_that_on_error_sees(cli, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: big
            steps:
              - id: total
                set: "${{ sum([input.a, input.a]) }}"
                on_error:
                  steps:
                    - id: said
                      set: "${{ error.message }}"
            output: "${{ steps.total }}"
            """
        ),
        encoding="utf-8",
    )
    given = json.dumps({"a": BIG})
    result = cli("run", str(path), "--input", given, "--db", str(tmp_path / "h.db"))
    assert result.code == 0, result.err
    assert json.loads(result.out) == (
        f"{path}:5:14: expression 'sum([input.a, input.a])': "
        "sum(): the result has more than 4,300 digits"
    )
