"""Fuzz a run's input: whatever --input holds, the answer is a run or located problems.

Inputs are JSON values (deep, with odd keys and strings), text that is almost JSON, and
JSON with escapes of lone surrogates, run against a pipeline whose input_schema uses
types, required keys, patterns, patternProperties and additionalProperties. The exit
code must be 0 or 2; on 2, every line of stderr is ``<input>:LINE:COL: message`` with a
line and column inside the text. Never a traceback or an internal error (exit 3).
"""

from __future__ import annotations

import json
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.cli import run_pipeline_main

PIPELINE = """\
version: 1
name: fuzzed-input
trigger:
  manual:
    input_schema:
      type: object
      required: [id]
      properties:
        id: {type: integer, minimum: 0}
        email: {type: string, pattern: "^[^@ ]+@[^@ ]+$"}
        tags: {type: array, items: {type: string, maxLength: 10}, uniqueItems: true}
      patternProperties:
        "^x-": {type: string}
      additionalProperties: {type: [object, array, "null"]}
steps:
  - id: echo
    set: "${{ input }}"
output: "${{ steps.echo.id }}"
"""

FUZZ = settings(
    max_examples=int(os.environ.get("HOOKLINE_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

KEYS = st.sampled_from(["id", "email", "tags", "x-a", "x-", "other", "", "é", "a\\b"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), inner),
    max_leaves=30,
)
LOCATED = re.compile(r"^<input>:(\d+):(\d+): \S")


def _run(path: str, text: str, capsys) -> None:
    code = run_pipeline_main([path, f"--input={text}", "-q"])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    if code == 2:
        lines = err.splitlines()
        assert lines, "exit 2 without a message"
        text_lines = text.split("\n")
        for line in lines:
            found = LOCATED.match(line)
            assert found, line
            row, col = int(found.group(1)), int(found.group(2))
            assert 1 <= row <= len(text_lines), line
            assert 1 <= col <= len(text_lines[row - 1]) + 1, line
    else:
        json.loads(out)


@FUZZ
@given(value=VALUES, indent=st.sampled_from([None, 1, 4]))
def test_any_json_value_runs_or_is_located(tmp_path, capsys, value, indent) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    _run(str(path), json.dumps(value, indent=indent, ensure_ascii=False), capsys)


@FUZZ
@given(
    value=VALUES,
    cut=st.integers(min_value=0, max_value=200),
    junk=st.sampled_from(["", "[", "{", '"', "\\ud800", "NaN", "]]", ",", "\x00"]),
)
def test_broken_json_is_located(tmp_path, capsys, value, cut, junk) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    text = json.dumps({"id": 1, "v": value})
    text = text[: cut % (len(text) + 1)] + junk + text[cut % (len(text) + 1) :]
    _run(str(path), text, capsys)


@FUZZ
@given(depth=st.integers(min_value=100, max_value=5000), opener=st.sampled_from("[{"))
def test_deep_input_is_located(tmp_path, capsys, depth, opener) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    if opener == "[":
        text = '{"id": 1, "deep": ' + "[" * depth + "]" * depth + "}"
    else:
        text = '{"id": 1, "deep": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    _run(str(path), text, capsys)
