"""What a new user's walk through `hookline run` found in its input and --var messages:
input_schema formats are enforced, `@` is offered only for a file that exists, and a
--var for an env name says where that name is set."""

from __future__ import annotations

import json

PIPELINE = """\
version: 1
name: formats
env:
  TARGET_URL: {description: Base URL of the target API}
vars:
  tag: nightly
trigger:
  manual:
    input_schema:
      type: object
      properties:
        email: {type: string, format: email}
        day: {type: string, format: date}
        at: {type: string, format: date-time}
        site: {type: string, format: uri}
        id: {type: string, format: uuid}
        ip: {type: string, format: ipv4}
        ip6: {type: string, format: ipv6}
        count: {type: integer, format: email}
steps:
  - id: echo
    set: '${{ input }}'
output: '${{ steps.echo }}'
"""
GOOD = {
    "email": "a.b+c@example.com",
    "day": "2026-01-31",
    "at": "2026-01-31T09:30:00.25+01:00",
    "site": "https://example.com/a?b=c%20d",
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "ip": "10.0.0.1",
    "ip6": "::1",
    "count": 3,
}


def test_valid_formats_are_accepted(cli, write, monkeypatch):
    monkeypatch.setenv("TARGET_URL", "http://127.0.0.1:9")
    path = write("p.yaml", PIPELINE)
    result = cli("run", path, "--input", json.dumps(GOOD))
    assert (result.code, json.loads(result.out)) == (0, GOOD)


def test_each_format_refuses_what_it_does_not_describe(cli, write, monkeypatch):
    monkeypatch.setenv("TARGET_URL", "http://127.0.0.1:9")
    path = write("p.yaml", PIPELINE)
    bad = {
        "email": "not-an-email",
        "day": "2026-02-30",
        "at": "2026-01-31 09:30",
        "site": "example.com/a b",
        "id": "123",
        "ip": "10.0.0.300",
        "ip6": "1::2::3",
    }
    result = cli("run", path, "--input", json.dumps(bad))
    assert result.code == 2
    assert result.err.splitlines() == [
        "<input>:1:11: input.email: 'not-an-email' (a string) is not a valid email address",
        "<input>:1:34: input.day: '2026-02-30' (a string) is not a valid date (YYYY-MM-DD, "
        "e.g. 2026-01-31)",
        "<input>:1:54: input.at: '2026-01-31 09:30' (a string) is not a valid date and time "
        "(RFC 3339, e.g. 2026-01-31T09:30:00Z)",
        "<input>:1:82: input.site: 'example.com/a b' (a string) is not a valid URI",
        "<input>:1:107: input.id: '123' (a string) is not a valid UUID (e.g. "
        "123e4567-e89b-12d3-a456-426614174000)",
        "<input>:1:120: input.ip: '10.0.0.300' (a string) is not a valid IPv4 address",
        "<input>:1:141: input.ip6: '1::2::3' (a string) is not a valid IPv6 address",
    ]


def test_check_warns_of_a_format_it_does_not_enforce(cli, write):
    path = write("p.yaml", PIPELINE.replace("format: uuid", "format: e-mail"))
    result = cli("check", "--no-cache", path)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"{path}:16:36: warning: format 'e-mail' is not checked: an input is not refused "
        "for it; did you mean 'email'?"
    ]


def test_input_that_names_no_file_is_not_offered_the_at_form(cli, write, tmp_path, monkeypatch):
    monkeypatch.setenv("TARGET_URL", "http://127.0.0.1:9")
    path = write("p.yaml", PIPELINE)
    monkeypatch.chdir(tmp_path)
    result = cli("run", path, "--input", "nosuch")
    assert result.code == 2
    assert result.err.splitlines() == [
        "<input>:1:1: the input is not valid JSON: Expecting value (write JSON, e.g. --input "
        """'{"email": "a@example.com"}', or put the JSON in a file and pass --input @FILE)"""
    ]
    (tmp_path / "data.json").write_text("{}")
    result = cli("run", path, "--input", "data.json")
    assert result.err.splitlines() == [
        "<input>:1:1: the input is not valid JSON: Expecting value (to read the file "
        "data.json, write --input @data.json)"
    ]


def test_a_var_that_is_an_env_name_says_where_it_is_set(cli, write, monkeypatch):
    monkeypatch.setenv("TARGET_URL", "http://127.0.0.1:9")
    path = write("p.yaml", PIPELINE)
    result = cli("run", path, "--input", json.dumps(GOOD), "--var", "TARGET_URL=http://x")
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: --var TARGET_URL: TARGET_URL is declared under 'env:', not 'vars:': set it in "
        "the environment (TARGET_URL=... hookline run ...) or in an env file (--env-file)"
    ]
