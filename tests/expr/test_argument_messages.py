"""Arguments of the wrong type or value: located at check time when written in the file,
a plain step failure (that on_error sees) when they come from the data."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest


def pipeline(tmp_path: Path, expression: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: args
            steps:
              - id: one
                set: '${{ %s }}'
            output: "${{ steps.one }}"
            """
        )
        % expression.replace("'", "''"),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "lower(`null`)",
            "lower(): argument 1 is null, where a string is needed (a missing field, or a step "
            "that did not run, is null): give a fallback with default(value, '')",
        ),
        (
            "lower(`1`)",
            "lower(): argument 1 must be a string, not a number: convert it with to_string()",
        ),
        ('sum(`[1, "2"]`)', "sum(): argument 1 must be an array of numbers; element 1 is a string"),
        (
            "length(`true`)",
            "length(): argument 1 must be a string, an array or an object, not a boolean",
        ),
        ("upper([input.a])", "upper(): argument 1 must be a string, not an array"),
        (
            "regex_match(input.a, '(a')",
            "regex_match(): invalid pattern '(a': missing ) at position 2",
        ),
        (
            "regex_match(input.a, 'a{20000}')",
            "regex_match(): the pattern's repeat counts ask for more than 10,000 elements (as in a{20000}): write a range such as a{1,20000}, or a smaller count",
        ),
        (
            "regex_extract(input.a, '(a)', `2`)",
            "regex_extract(): no group 2: the pattern has 1 (0 is the whole match)",
        ),
        (
            "regex_replace(input.a, '(a)', '\\2')",
            "regex_replace(): invalid replacement '\\2': no such group",
        ),
        (
            "date_add(input.a, `1`, 'fortnight')",
            "date_add(): unknown unit 'fortnight' (one of 'seconds', 'minutes', 'hours', 'days', 'weeks', 'months', 'years')",
        ),
        (
            "date_diff(input.a, input.b, 'days', 'Europe/Madird')",
            "date_diff(): unknown time zone 'Europe/Madird'; did you mean 'Europe/Madrid'? (an IANA name such as 'Europe/Madrid' or 'America/New_York', or 'UTC')",
        ),
        (
            "quote(input.a, 'airtible')",
            "quote(): unknown target 'airtible' (one of 'airtable', 'sql', 'mysql', 'odata', 'shell', 'csv', 'excel')",
        ),
        ("round(input.a, `1.5`)", "round(): places must be a whole number, not 1.5"),
        ("round(input.a, `500`)", "round(): places must be from -100 to 100, not 500"),
        ("substring(input.a, `0.5`)", "substring(): start must be a whole number, not 0.5"),
        (
            "upper(length(input.a))",
            "upper(): argument 1 must be a string, not a number: convert it with to_string()",
        ),
        ("abs(input.a == input.b)", "abs(): argument 1 must be a number, not a boolean"),
        ("merge(items(input.a))", "merge(): argument 1 must be an object, not an array"),
        (
            "group_by(input.a, 'status')",
            "group_by(): argument 2 must be an expression reference (&field), not a string: write the field with & before it, as in &name",
        ),
    ],
)
def test_a_wrong_literal_argument_is_located_at_check_time(
    cli: Any, tmp_path: Path, expression: str, message: str
) -> None:
    path = pipeline(tmp_path, expression)
    result = cli("check", str(path))
    assert result.code == 2, result.err
    assert result.out == f"{path}:5:15: expression '{expression}': {message}\n"


@pytest.mark.parametrize(
    "expression",
    [
        "lower(input.a)",
        "regex_match(input.a, '^\\d{5}$')",
        "date_add(input.a, `1`, 'DAYS', 'Europe/Madrid')",
        "quote(input.a, 'airtable')",
        "round(input.a, `-2`)",
        "zip(input.a, `[1]`, [input.b])",
        "date_add(input.a, `1`, lower(input.unit))",
        "abs(input.a < input.b)",
        "sum(map(&n, input.a))",
        "default(input.a, `null`)",
    ],
)
def test_right_literal_arguments_pass(cli: Any, tmp_path: Path, expression: str) -> None:
    result = cli("check", str(pipeline(tmp_path, expression)))
    assert result.code == 0, result.err


def test_lower_of_a_missing_field_names_it_and_suggests_default(cli: Any, tmp_path: Path) -> None:
    path = pipeline(tmp_path, "lower(input.name)")
    result = cli("run", str(path), "--input", "{}")
    assert result.code == 1
    assert (
        f"error: step 'one' failed: {path}:5:14: expression 'lower(input.name)': lower(): "
        "argument 1, input.name, is null, where a string is needed (a missing field, or a "
        "step that did not run, is null): give a fallback with default(input.name, '')"
    ) in result.err
    assert "Traceback" not in result.err
    fixed = pipeline(tmp_path, "lower(default(input.name, ''))")
    result = cli("run", str(fixed), "--input", "{}")
    assert (result.code, json.loads(result.out)) == (0, "")


@pytest.mark.parametrize(
    ("expression", "data", "words"),
    [
        (
            "join(', ', input.tags)",
            {},
            "join(): argument 2, input.tags, is null, where an array of strings is needed (a missing field, or a step that did not run, is null): give a fallback with default(input.tags, `[]`)",
        ),
        (
            'length(input."First Name")',
            {},
            'length(): argument 1, input."First Name", is null, where a string, an array or an object is needed (a missing field, or a step that did not run, is null): give a fallback with default(input."First Name", \'\')',
        ),
        (
            "date_add(input.at, `1`, 'days')",
            {},
            "date_add(): argument 1, input.at, is null, where a string or a number is needed (a missing field, or a step that did not run, is null): give a fallback with default(input.at, '')",
        ),
        (
            "upper(input.n)",
            {"n": 3},
            "upper(): argument 1 must be a string, not a number: convert it with to_string()",
        ),
        (
            "join(', ', input.tags)",
            {"tags": ["a", 1]},
            "join(): argument 2 must be an array of strings; element 1 is a number",
        ),
        (
            "upper(input.a) || lower(input.a)",
            {},
            "upper(): argument 1, input.a, is null, where a string is needed (a missing field, or a step that did not run, is null): give a fallback with default(input.a, '')",
        ),
        (
            "[lower(input.a), lower(input.b)]",
            {"a": "x"},
            "lower(): argument 1 is null, where a string is needed (a missing field, or a step that did not run, is null): give a fallback with default(value, '')",
        ),
    ],
)
def test_run_time_type_errors_are_step_failures_in_plain_words(
    cli: Any, tmp_path: Path, expression: str, data: Any, words: str
) -> None:
    path = pipeline(tmp_path, expression)
    result = cli("run", str(path), "--input", json.dumps(data))
    assert result.code == 1, result.err
    assert f"{path}:5:14: expression '{expression}': {words}" in result.err, result.err
