"""Messages a new user was misled by, as `hookline run` prints them now."""

from __future__ import annotations

import json

import pytest

PIPELINE = """\
version: 1
name: echo
vars:
  base_url: https://api.example.com
  page_size: "10"
steps:
  - id: echo
    set: "${{ input }}"
output: "${{ steps.echo }}"
"""

SECRET_PIPELINE = """\
version: 1
name: guarded
secrets: [API_TOKEN]
steps:
  - id: echo
    set: "${{ input }}"
output: "${{ steps.echo }}"
"""


@pytest.mark.parametrize(
    ("given", "where", "hint"),
    [
        (
            "{'email':'a@example.com'}",
            "1:2: the input is not valid JSON: Expecting property name enclosed in double quotes",
            """JSON writes text in double quotes: --input '{"email": "a@example.com"}', or put """
            "the JSON in a file and pass --input @FILE",
        ),
        (
            "email=a@example.com",
            "1:1: the input is not valid JSON: Expecting value",
            """the input is JSON: write --input '{"email": "a@example.com"}', or put the JSON """
            "in a file and pass --input @FILE",
        ),
        (
            "{email: a}",
            "1:2: the input is not valid JSON: Expecting property name enclosed in double quotes",
            "keys and text in JSON are written in double quotes, or put the JSON in a file and "
            "pass --input @FILE",
        ),
        (
            "lead.json",
            "1:1: the input is not valid JSON: Expecting value",
            "to read the file lead.json, write --input @lead.json",
        ),
    ],
)
def test_an_input_that_is_not_json_gets_the_form_that_works(
    cli, write, given, where, hint, tmp_path, monkeypatch
):
    path = write("p.yaml", PIPELINE)
    write("lead.json", "{}")  # `@` is offered for a file that exists
    monkeypatch.chdir(tmp_path)
    result = cli("run", path, "--input", given)
    assert result.code == 2
    assert result.err == f"<input>:{where} ({hint})\n"


def test_the_suggested_input_works(cli, write):
    path = write("p.yaml", PIPELINE)
    result = cli("run", path, "--input", '{"email": "a@example.com"}')
    assert result.code == 0
    assert json.loads(result.out) == {"email": "a@example.com"}


def test_a_misspelt_var_gets_did_you_mean(cli, write):
    path = write("p.yaml", PIPELINE)
    result = cli("run", path, "--var", "base_ulr=http://127.0.0.1:9")
    assert result.code == 2
    assert result.err == (
        "error: --var base_ulr: the pipeline has no var 'base_ulr'; did you mean 'base_url'? "
        "(its vars: base_url, page_size)\n"
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("hookline", "is a word hookline itself writes in its messages"),
        ("s3cr3t", "is shorter than 8 characters"),
    ],
)
def test_a_weak_secret_is_warned_about_once_without_its_value(cli, write, monkeypatch, value, why):
    monkeypatch.setenv("API_TOKEN", value)
    path = write("p.yaml", SECRET_PIPELINE)
    result = cli("run", path, "--input", "{}")
    assert result.code == 0
    warning = (
        f"warning: secret API_TOKEN {why}: its value is masked as *** wherever it appears, "
        "inside other words and hookline's own messages too; check that it holds the real "
        "credential, not a placeholder\n"
    )
    assert result.err.count("secret API_TOKEN") == 1
    assert warning in result.err
    assert value not in result.err.replace(warning, "")


def test_a_strong_secret_gets_no_warning(cli, write, monkeypatch):
    monkeypatch.setenv("API_TOKEN", "tok_9f8e7d6c5b4a")
    path = write("p.yaml", SECRET_PIPELINE)
    result = cli("run", path, "--input", "{}")
    assert result.code == 0
    assert "secret" not in result.err
