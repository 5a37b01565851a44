"""Env files written to mislead: multi-line values, odd line breaks, control characters,
and a file that tries to take over a secret the process environment gives."""

from __future__ import annotations

import json

import pytest

from hookline import PipelineInvalid
from hookline._envfile import parse_env_text

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7+secret/partXY=\nAB12cd34="
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"

SHOW_KEY = """\
version: 1
name: show-key
env:
  KEY:
steps:
  - id: a
    set: "${{ env.KEY }}"
output: "${{ steps.a }}"
"""

SECRET_SOURCE = """\
version: 1
name: which-token
secrets: [API_TOKEN]
steps:
  - id: a
    set: "${{ secrets.API_TOKEN == 'from-the-process' }}"
output: "${{ steps.a }}"
"""


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("KEY", "API_TOKEN", "API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _problems(text: str) -> list[str]:
    with pytest.raises(PipelineInvalid) as bad:
        parse_env_text(text, "x.env")
    return [str(p) for p in bad.value.problems]


def test_a_double_quoted_pem_key_spans_lines(cli, write, clean_env):
    env_file = write("pem.env", f'# the key\nKEY="{PEM}"\nAFTER=1\n')
    # A base64 line ending in "=" is part of the key, not a variable with an empty value.
    assert parse_env_text(f'KEY="{PEM}"\nAFTER=1\n') == {"KEY": PEM, "AFTER": "1"}
    result = cli("run", write("p.yaml", SHOW_KEY), "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) == PEM


def test_single_quotes_span_lines_too_and_crlf_files_read_as_lf():
    text = f"KEY='{PEM}'  # comment\nB=\"x\\ny\"\nC=3\n".replace("\n", "\r\n")
    assert parse_env_text(text) == {"KEY": PEM, "B": "x\ny", "C": "3"}


def test_an_unclosed_quote_names_the_key_and_never_echoes_the_value(cli, write, clean_env):
    env_file = write("pem.env", f'KEY="-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n')
    result = cli("run", write("p.yaml", SHOW_KEY), "--env-file", env_file)
    assert result.code == 2
    assert result.err.strip() == (
        f'{env_file}:1:5: the value of KEY has no closing ": a quoted value runs until its '
        "closing quote, over lines if need be"
    )


def test_a_line_that_is_not_a_setting_is_not_quoted_in_the_error(cli, write, clean_env):
    env_file = write("pem.env", "KEY=1\nMIIEvQIBADAN+secret/partXY=\nAB+/cd\n")
    result = cli("run", write("p.yaml", SHOW_KEY), "--env-file", env_file)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"{env_file}:2:1: the name before = is not a variable name: letters, digits and _, "
        "not starting with a digit",
        f"{env_file}:3:1: expected NAME=VALUE (or a # comment)",
    ]
    assert "secret" not in result.err and "AB+" not in result.err


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"])
def test_only_newline_ends_a_line(separator):
    # str.splitlines() broke here: the line set two variables and the rest moved down.
    text = f"API_URL=http://real.example.com{separator}TOK=injected12345\nB=2\n"
    assert _problems(text) == [
        f"x.env:1:32: the value of API_URL holds a control character "
        f"(U+{ord(separator):04X}): only tab is allowed; write \\n in a double-quoted value "
        "for a line break"
    ]


def test_a_separator_in_a_comment_does_not_start_a_setting():
    assert parse_env_text("# note\u2028TOK=injected\nA=1\n") == {"A": "1"}


def test_a_nul_in_a_value_is_a_located_error_not_a_traceback(cli, write, clean_env):
    env_file = write("nul.env", "A=1\nKEY=ab\x00cd\nC='x\x1b[31m'\n")
    result = cli("run", write("p.yaml", SHOW_KEY), "--env-file", env_file)
    assert result.code == 2
    note = "only tab is allowed; write \\n in a double-quoted value for a line break"
    assert result.err.splitlines() == [
        f"{env_file}:2:7: the value of KEY holds a control character (U+0000): {note}",
        f"{env_file}:3:5: the value of C holds a control character (U+001B): {note}",
    ]
    assert "Traceback" not in result.err


def test_a_tab_in_a_value_is_kept():
    assert parse_env_text("A=a\tb\nB='c\td'\n") == {"A": "a\tb", "B": "c\td"}


def test_the_env_file_never_takes_over_a_secret_the_process_names_by_file(
    cli, write, tmp_path, clean_env
):
    pipeline = write("p.yaml", SECRET_SOURCE)
    token_file = tmp_path / "token"
    token_file.write_text("from-the-process\n")
    env_file = write("local.env", "API_TOKEN=from-the-env-file\n")
    clean_env.setenv("API_TOKEN_FILE", str(token_file))
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) is True

    # And the other way round: the process's API_TOKEN wins over the file's API_TOKEN_FILE
    # (a file that does not exist: reading it would fail the run).
    clean_env.delenv("API_TOKEN_FILE")
    clean_env.setenv("API_TOKEN", "from-the-process")
    env_file = write("other.env", f"API_TOKEN_FILE={tmp_path / 'missing'}\n")
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) is True


def test_the_env_file_still_gives_a_secret_the_process_does_not_name(cli, write, clean_env):
    env_file = write("local.env", "API_TOKEN=from-the-process\n")
    result = cli("run", write("p.yaml", SECRET_SOURCE), "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) is True
