"""A run's input is untrusted: bounded in size and depth, located without a YAML reload,
and its schema's patterns cannot hang the process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hookline import _inputs, _jsonpos

SCHEMA_PIPELINE = """\
version: 1
name: people
trigger:
  manual:
    input_schema:
      type: array
      items:
        type: object
        required: [name, email]
        properties:
          name: {type: string}
          email: {type: string, pattern: "@"}
steps:
  - id: count
    set: "${{ length(input) }}"
output: "${{ steps.count }}"
"""


def pattern_pipeline(pattern: str) -> str:
    return f"""\
version: 1
name: pattern
trigger:
  manual:
    input_schema:
      type: object
      properties:
        word: {{type: string, pattern: '{pattern}'}}
steps:
  - id: echo
    set: "${{{{ input.word }}}}"
output: "${{{{ steps.echo }}}}"
"""


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """run-pipeline in its own process: a hang fails the test instead of stalling it."""
    code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout
    )


def test_errors_in_a_large_input_are_located_in_the_json_text(cli, write, tmp_path):
    people = [{"name": f"person {i}", "email": f"p{i}@example.com"} for i in range(40_000)]
    people[25_000]["email"] = "nobody"
    del people[27_000]["name"]
    data = tmp_path / "people.json"
    data.write_text(json.dumps(people, indent=1), encoding="utf-8")  # 4 lines an item
    result = cli(write("p.yaml", SCHEMA_PIPELINE), "--input", f"@{data}", prog="run-pipeline")
    assert result.code == 2
    # 160,000 values: the YAML loader stopped at 100,000 and blamed aliases.
    assert result.err.splitlines() == [
        f"{data}:100004:12: input[25000].email: 'nobody' (a string) does not match the pattern @",
        f"{data}:108002:2: input[27000]: missing required key 'name'",
    ]


def test_keys_escapes_and_nesting_are_located():
    text = '{"a\\u00e9": [1, {"b": [true, {"c": null}]}],\n "z": "x"}'
    values, keys = _jsonpos.locate(text, [("aé", 1, "b", 1, "c"), ("z",), ("missing",)])
    assert values == {("aé", 1, "b", 1, "c"): (1, 36), ("z",): (2, 7)}
    assert keys == {("aé", 1, "b", 1, "c"): (1, 31), ("z",): (2, 2)}


def test_schema_errors_are_capped_and_say_so(cli, write):
    bad = json.dumps([{"name": 1, "email": "x@y"}] * 200)
    result = cli(write("p.yaml", SCHEMA_PIPELINE), "--input", bad, prog="run-pipeline")
    assert result.code == 2
    lines = result.err.splitlines()
    assert len(lines) == _inputs.MAX_INPUT_PROBLEMS + 1
    assert lines[0] == "<input>:1:1: more problems in the input: only the first 50 are shown"
    assert lines[1] == "<input>:1:11: input[0].name: expected a string, got 1 (a number)"


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "never-closed"])
def test_deeply_nested_input_json_is_a_located_error(cli, write, closed):
    text = '{"a": ' + "[" * 100_000 + ("]" * 100_000 + "}" if closed else "")
    path = write("p.yaml", pattern_pipeline("x"))
    result = cli(path, "--input", "-", prog="run-pipeline", stdin=text)
    assert result.code == 2
    assert result.err.splitlines() == [
        "<stdin>:1:134: the input is nested more than 128 levels deep (the limit for an input)"
    ]


def test_input_nested_to_the_limit_is_accepted(cli, write):
    text = '{"word": "x", "deep": ' + "[" * 127 + "]" * 127 + "}"
    result = cli(write("p.yaml", pattern_pipeline("x")), "--input", text, prog="run-pipeline")
    assert result.code == 0, result.err
    assert json.loads(result.out) == "x"


def test_a_lone_surrogate_in_input_json_becomes_a_replacement_character(cli, write):
    path = write("p.yaml", pattern_pipeline("x"))
    result = cli(path, "--input", '{"word": "x\\ud800y"}', prog="run-pipeline")
    assert result.code == 0, result.err
    assert json.loads(result.out) == "x\ufffdy"


COUNT_PIPELINE = """\
version: 1
name: count
steps:
  - id: count
    set: "${{ length(input) }}"
output: "${{ steps.count }}"
"""


def test_an_input_of_too_many_values_is_refused_before_it_is_parsed(cli, write, tmp_path):
    # 3.3 MB of '{},' parses into 1.1 million dicts: about 300 MiB of memory.
    data = tmp_path / "many.json"
    data.write_text("[" + "{}," * 1_100_000 + "{}]", encoding="utf-8")
    result = cli(write("p.yaml", COUNT_PIPELINE), "--input", f"@{data}", prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == f"{data}:1:1: the input holds more than 1,048,576 values"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1e999]", "the input holds a number too large to be a float (1e999)"),
        ('{"a": -1e400}', "the input holds a number too large to be a float (-1e400)"),
        ("9" * 5000, "the input holds a number with more than 4300 digits"),
    ],
    ids=["infinity", "minus-infinity", "long-integer"],
)
def test_numbers_no_output_could_carry_are_refused(cli, write, text, message):
    result = cli(write("p.yaml", COUNT_PIPELINE), "--input", text, prog="run-pipeline")
    assert result.code == 2
    assert result.err.strip() == f"<input>:1:1: {message}"


def test_commas_inside_strings_are_not_values(cli, write):
    text = json.dumps(["," * 2_000_000, ":{[" * 100_000])
    result = cli(write("p.yaml", COUNT_PIPELINE), "--input", "-", prog="run-pipeline", stdin=text)
    assert result.code == 0, result.err
    assert json.loads(result.out) == 2


def test_an_input_file_over_the_size_limit_is_refused(cli, write, tmp_path):
    data = tmp_path / "big.json"
    with open(data, "wb") as f:
        f.truncate(_inputs.MAX_INPUT_BYTES + 1)
    result = cli(write("p.yaml", pattern_pipeline("x")), "--input", f"@{data}", prog="run-pipeline")
    assert result.code == 2
    assert (
        result.err.strip() == f"error: {data}: is larger than 10 MiB, the limit for an input file"
    )


def test_dev_zero_as_input_stops_at_the_limit(cli, write):
    result = cli(
        write("p.yaml", pattern_pipeline("x")), "--input", "@/dev/zero", prog="run-pipeline"
    )
    assert result.code == 2
    assert (
        result.err.strip() == "error: /dev/zero: is larger than 10 MiB, the limit for an input file"
    )


def test_stdin_over_the_size_limit_is_refused(cli, write):
    path = write("p.yaml", pattern_pipeline("x"))
    result = cli(path, "--input", "-", prog="run-pipeline", stdin=" " * (10 * 1024 * 1024 + 1))
    assert result.code == 2
    assert result.err.strip() == "error: <stdin>: the input is larger than 10 MiB, the limit"


def test_a_backtracking_pattern_does_not_hang_the_run(write):
    # Python's re takes 2**40 steps here (days); the run must answer at once.
    path = write("p.yaml", pattern_pipeline("^(a+)+$"))
    result = run(path, "--input", json.dumps({"word": "a" * 40 + "!"}))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"<input>:1:10: input.word: '{'a' * 37}...' (a string) does not match the pattern ^(a+)+$"
    ]


def test_a_pattern_that_runs_out_of_time_is_an_input_error(write):
    path = write("p.yaml", pattern_pipeline("^(a|aa)+$"))
    result = run(path, "--input", json.dumps({"word": "a" * 70 + "!"}))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "<input>:1:10: input.word: matching the pattern ^(a|aa)+$ took more than 2 s (the "
        "time limit for input_schema patterns): the input is refused"
    ]


def test_pattern_properties_with_unevaluated_properties_is_refused_at_check(cli, write):
    path = write(
        "p.yaml",
        """\
version: 1
name: mixed
trigger:
  manual:
    input_schema:
      type: object
      patternProperties: {"^x-": {type: string}}
      unevaluatedProperties: false
steps:
  - id: a
    set: 1
""",
    )
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:8:7: input_schema is not a valid JSON Schema: unevaluatedProperties: cannot "
        "be combined with patternProperties in an input_schema (their patterns would be "
        "matched without a time limit): use additionalProperties"
    ]
