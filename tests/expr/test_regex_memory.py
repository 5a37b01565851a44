"""What the regex time budget cannot bound: memory. And hostile time zone names.

A recursive pattern such as ``^((?&r)|a)(?P<r>(?1)a?)$`` takes gigabytes on 25
characters in under a second, long before the time budget ends: such patterns are refused
before they are compiled, where the pipeline writes them (check) and where data brings
them (a step error). A repeated capturing group on a text of megabytes can still run out
of memory: that is a step error too, not a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jexc

from hookline.expr._functions import OPTIONS

HOSTILE = "^((?&r)|a)(?P<r>(?1)a?)$"
REFUSED = (
    "regex_match(): the pattern calls a group recursively, '{call}': recursive patterns "
    "are not supported (they can take gigabytes of memory on a short text)"
)


def error(expression: str, data: Any) -> str:
    with pytest.raises(jexc.JMESPathError) as info:
        jmespath.search(expression, data, options=OPTIONS)
    return str(info.value)


@pytest.mark.parametrize(
    ("pattern", "call"),
    [
        (HOSTILE, "(?&r)"),
        ("(a)(?R)?", "(?R)"),
        ("a(?0)?", "(?0)"),
        ("(a)(?1)", "(?1)"),
        ("(a)(?-1)", "(?-1)"),
        ("(?+1)(a)", "(?+1)"),
        ("(?P<n>a)(?P>n)", "(?P>n)"),
        # Verbose mode lets whitespace and comments into a call: still a call.
        ("(?x)(?P<n>a)(?P >n)", "(?P >n)"),
        ("(?x)(?P<n>a)(?&#note\nn)", "(?&#note\nn)"),
        # A call inside what a scan would take for a character class, but is a comment.
        ("(?x)(a)#[\n(?1)#]", "(?1)"),
        # An escaped backslash does not escape the call after it.
        ("(a)\\\\(?1)", "(?1)"),
    ],
)
def test_recursive_patterns_are_refused(pattern: str, call: str) -> None:
    assert error("regex_match(s, p)", {"s": "a" * 25, "p": pattern}) == REFUSED.format(
        call=call.replace("\n", "\\n")
    )


@pytest.mark.parametrize(
    "pattern",
    [
        r"\(?1\)",  # an escaped "(": an optional "(", then "1)"
        "(?P<n>a)(?P=n)",  # a backreference, not a call
        r"(a)\g<1>",  # regex reads \g<1> in a pattern as a backreference too
        "(a)?(?(1)b|c)",
        "(?i)a",
        "(?-i:a)",
        "(?r)a",
        "(?>a+)",
        "(?|(a)|(b))",
        "(?#note)a",
    ],
)
def test_look_alikes_are_accepted(pattern: str) -> None:
    assert jmespath.search("regex_match(s, p)", {"s": "a", "p": pattern}, options=OPTIONS) in (
        True,
        False,
    )


def test_check_finds_a_recursive_pattern_where_it_is_written(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: recursive
            steps:
              - id: a
                set: "${{{{ regex_match(input.s, '{HOSTILE}') }}}}"
            """
        ),
        encoding="utf-8",
    )
    result = cli("check", str(path))
    assert result.code == 2, result.err
    assert result.out == (
        f"{path}:5:15: expression 'regex_match(input.s, '{HOSTILE}')': "
        + REFUSED.format(call="(?&r)")
        + "\n"
    )


def test_a_recursive_pattern_from_input_fails_the_step(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: recursive
            steps:
              - id: a
                set: "${{ regex_match(input.s, input.p) }}"
                on_error:
                  steps:
                    - id: said
                      set: "${{ error.message }}"
            output: "${{ steps.a }}"
            """
        ),
        encoding="utf-8",
    )
    data = json.dumps({"s": "a" * 25, "p": HOSTILE})
    result = cli(str(path), "--input", data, prog="run-pipeline")
    assert result.code == 0, result.err
    assert json.loads(result.out) == (
        f"{path}:5:14: expression 'regex_match(input.s, input.p)': " + REFUSED.format(call="(?&r)")
    )


_OUT_OF_MEMORY = textwrap.dedent(
    """
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from hookline.expr import ExpressionError, compile_expression
    try:
        compile_expression("regex_match(s, '(a|b)*$')").evaluate({"s": "ab" * 4_000_000})
    except ExpressionError as exc:
        print(exc)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_running_out_of_memory_while_matching_is_a_plain_error() -> None:
    # Every capture of a repeated group is kept: 8 million on this text, more than the
    # gigabyte this interpreter may take. Without the guard: a MemoryError traceback.
    done = subprocess.run(
        [sys.executable, "-c", _OUT_OF_MEMORY], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "expression 'regex_match(s, '(a|b)*$')': regex_match(): matching needed more memory "
        "than there is (a repeated group keeps every capture: on a long text, make the group "
        "non-capturing, as in (?:a|b)*)\n"
    )


@pytest.mark.parametrize("length", [256, 300, 5000])
def test_a_time_zone_name_too_long_for_a_file_is_a_step_error(
    cli: Any, tmp_path: Path, length: int
) -> None:
    # zoneinfo opens a file of that name: over 255 characters the OS says "File name too
    # long" (an OSError with the install path), which was a crash.
    path = tmp_path / "tz.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: tz
            steps:
              - id: s
                set: "${{ date_add('2024-01-01T00:00:00Z', `1`, 'days', input.tz) }}"
            """
        ),
        encoding="utf-8",
    )
    result = cli(str(path), "--input", json.dumps({"tz": "a" * length}), prog="run-pipeline")
    assert result.code == 1, result.err
    assert "Traceback" not in result.out + result.err
    assert "site-packages" not in result.out + result.err
    assert result.out == ""
    assert result.err.splitlines()[-1].endswith(
        f"error: step 's' failed: {path}:5:14: expression 'date_add('2024-01-01T00:00:00Z', "
        f"`1`, 'days', input.tz)': date_add(): unknown time zone '{'a' * 67}...' (an IANA "
        "name such as 'Europe/Madrid' or 'America/New_York', or 'UTC')"
    )
