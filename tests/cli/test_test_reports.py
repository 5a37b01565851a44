"""``hookline test --junit FILE``: the report's folders are created (CI's common
``reports/junit.xml``) and a path that cannot be written is a usage error before any case
runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

PIPELINE = """\
version: 1
name: hello
steps:
  - id: greet
    set: "${{ 'hello ' || input.name }}"
output: "${{ steps.greet }}"
"""

TESTS = """\
version: 1
cases:
  - name: greets
    input: {name: Ada}
    expect: {status: succeeded}
"""


def _suite(write) -> str:
    write("hello.yaml", PIPELINE)
    return write("hello.test.yaml", TESTS)


def test_the_junit_reports_folders_are_created(cli, write, tmp_path: Path):
    tests = _suite(write)
    junit = tmp_path / "reports" / "ci" / "junit.xml"
    result = cli("test", tests, "--junit", str(junit))
    assert result.code == 0, result.err
    assert ET.parse(junit).getroot().find("testsuite/testcase").get("name") == "greets"


def test_a_junit_path_under_a_file_is_a_usage_error_before_any_case_runs(
    cli, write, tmp_path: Path
):
    tests = _suite(write)
    (tmp_path / "out").write_text("a file, not a folder")
    junit = tmp_path / "out" / "junit.xml"
    result = cli("test", tests, "--junit", str(junit))
    assert (result.code, result.out) == (2, "")  # no case ran, no PASS line
    assert result.err == (
        f"error: --junit {junit}: cannot create its folder: a file stands where a folder "
        "is needed\n"
    )


def test_a_junit_path_naming_a_folder_is_a_usage_error(cli, write, tmp_path: Path):
    tests = _suite(write)
    result = cli("test", tests, "--junit", str(tmp_path))
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: --junit {tmp_path}: is a directory; name a file, e.g. {tmp_path}/junit.xml\n"
    )
