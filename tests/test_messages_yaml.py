"""YAML mistakes are blamed on the line that holds them."""

from __future__ import annotations

import pytest

VALID = """\
version: 1
name: indents
vars:
  a: 1
  b: two
steps:
  - id: first
    set:
      x: 1
      y: 2
  - id: call
    rest:
      url: http://127.0.0.1:9/x
      method: GET
      json: {a: 1}
"""


def _dedent(line: int, by: int) -> str:
    lines = VALID.splitlines()
    lines[line - 1] = lines[line - 1][by:]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "by", "message"),
    [
        (
            4,
            1,
            "4:2: bad indentation: this key starts at column 2, left of the key after it "
            "('b', line 5, column 3): the keys of a mapping must start in the same column",
        ),
        (
            7,
            1,
            "7:4: bad indentation: this key starts at column 4, left of the key after it "
            "('set', line 8, column 5): the keys of a mapping must start in the same column",
        ),
        (
            9,
            1,
            "9:6: bad indentation: this key starts at column 6, left of the key after it "
            "('y', line 10, column 7): the keys of a mapping must start in the same column",
        ),
        (
            14,
            2,
            "14:5: bad indentation: this key starts at column 5, left of the key after it "
            "('json', line 15, column 7): the keys of a mapping must start in the same column",
        ),
    ],
)
def test_a_deindented_key_is_blamed_not_the_line_after_it(cli, write, line, by, message):
    path = write("p.yaml", _dedent(line, by))
    result = cli("check", "--no-cache", path)
    assert result.code == 2
    assert result.out == f"{path}:{message}\n"


def test_an_overindented_key_is_still_blamed_itself(cli, write):
    path = write("p.yaml", VALID.replace("  b: two", "   b: two"))
    result = cli("check", "--no-cache", path)
    assert result.out == (
        f"{path}:5:5: ': ' is not allowed here: put the value in quotes if it contains ': ', "
        "or fix the indentation of this line\n"
    )


def test_an_unquoted_negation_gets_no_bogus_must_not_be_empty(cli, write):
    path = write("p.yaml", VALID + "  - id: check\n    if: !input.email\n    set: 1\n")
    result = cli("check", "--no-cache", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:17:9: '!input.email' at the start of a value is read by YAML as a tag: if it "
        'is text or an expression, quote the whole value, e.g. "!input.email"',
        f"{path}:17:9: '!input.email' negates 'input' before the rest is read, so it is always "
        "null: write '!(input.email)'",
    ]
