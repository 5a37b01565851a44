"""`env:` (configuration that is not secret) and `--env-file`: located errors, precedence,
values never masked, secrets from an env file still masked."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from hookline import PipelineInvalid
from hookline._envfile import parse_env_text, read_env_file
from hookline.serve._catalog import load_catalog

PIPELINE = """\
version: 1
name: env-demo
env:
  CRM_URL:
    default: https://crm.example.com/api
    description: Base URL of the CRM
  PAGE_SIZE: 50
  REGION:
vars:
  base: "${{ env.CRM_URL }}"
steps:
  - id: where
    set: "${{ vars.base }}/contacts?limit=${{ env.PAGE_SIZE }}&region=${{ env.REGION }}"
output: "${{ steps.where }}"
"""


@pytest.fixture
def pipeline(write) -> str:
    return write("env-demo.yaml", PIPELINE)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("CRM_URL", "PAGE_SIZE", "REGION", "API_TOKEN", "API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --- check: names are known --------------------------------------------------------


def test_reading_an_undeclared_name_is_located_with_a_suggestion(cli, write):
    path = write("p.yaml", PIPELINE.replace("env.PAGE_SIZE }}&", "env.PAGE_SIZ }}&"))
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines()[0] == (
        f"{path}:13:51: env 'PAGE_SIZ' is not declared; did you mean 'PAGE_SIZE'?"
    )


def test_reading_env_with_no_env_block_says_where_to_declare_it(cli, write):
    path = write("p.yaml", "version: 1\nname: p\nsteps:\n  - id: a\n    set: '${{ env.HOME }}'\n")
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines()[0] == (
        f"{path}:5:19: env 'HOME' is not declared: add it under 'env:' at the top of the file "
        "(with a default if it may be unset)"
    )


def test_a_name_both_in_env_and_secrets_is_an_error(cli, write):
    path = write(
        "p.yaml",
        "version: 1\nname: p\nsecrets: [API_TOKEN]\nenv:\n  API_TOKEN: x\n"
        "steps:\n  - id: a\n    set: 1\n",
    )
    result = cli("check", path)
    assert result.code == 2
    assert result.out.splitlines()[0] == (
        f"{path}:5:3: 'API_TOKEN' is declared in both env and secrets: keep it under secrets "
        "if its value must be masked, else under env"
    )


def test_check_needs_no_values(cli, pipeline, clean_env):
    result = cli("check", pipeline)
    assert result.code == 0, result.err


# --- run: values, precedence ---------------------------------------------------------


def test_every_missing_name_and_secret_is_reported_at_once(cli, write, clean_env):
    path = write(
        "p.yaml", PIPELINE.replace("name: env-demo\n", "name: env-demo\nsecrets: [API_TOKEN]\n")
    )
    path = write("p.yaml", Path(path).read_text().replace("PAGE_SIZE: 50", "PAGE_SIZE:"))
    result = cli("run", path)
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines() == [
        f"{path}:3:11: secret 'API_TOKEN' is not set: set the environment variable API_TOKEN, "
        "or API_TOKEN_FILE to the path of a file that holds it",
        f"{path}:8:3: env 'PAGE_SIZE' is not set and has no default: set the environment "
        "variable PAGE_SIZE, or put PAGE_SIZE=... in the file given to --env-file",
        f"{path}:9:3: env 'REGION' is not set and has no default: set the environment variable "
        "REGION, or put REGION=... in the file given to --env-file",
    ]


def test_defaults_apply_and_numbers_are_text(cli, pipeline, clean_env):
    clean_env.setenv("REGION", "eu")
    result = cli("run", pipeline)
    assert result.code == 0, result.err
    assert json.loads(result.out) == "https://crm.example.com/api/contacts?limit=50&region=eu"


def test_precedence_var_then_process_then_env_file_then_default(cli, pipeline, write, clean_env):
    env_file = write("local.env", "CRM_URL=http://from-file\nREGION=file-region\nPAGE_SIZE=7\n")
    clean_env.setenv("REGION", "process-region")
    clean_env.setenv("PAGE_SIZE", "")  # empty counts as unset: the file's value is used
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) == "http://from-file/contacts?limit=7&region=process-region"

    clean_env.setenv("CRM_URL", "http://from-process")
    result = cli("run", pipeline, "--env-file", env_file)
    assert json.loads(result.out) == "http://from-process/contacts?limit=7&region=process-region"

    result = cli("run", pipeline, "--env-file", env_file, "--var", "base=http://from-var")
    assert json.loads(result.out) == "http://from-var/contacts?limit=7&region=process-region"


def test_the_env_file_does_not_outlive_the_command(cli, pipeline, write, clean_env):
    env_file = write("local.env", "REGION=file-region\n")
    assert cli("run", pipeline, "--env-file", env_file).code == 0
    assert "REGION" not in os.environ
    assert cli("run", pipeline).code == 2


def test_env_values_are_never_masked_and_secrets_from_an_env_file_are(cli, write, clean_env):
    path = write(
        "p.yaml",
        "version: 1\nname: p\nsecrets: [API_TOKEN]\nenv:\n  REGION:\n"
        "steps:\n  - id: a\n    set: {region: '${{ env.REGION }}', token: '${{ secrets.API_TOKEN }}'}\n"
        "output: '${{ steps.a }}'\n",
    )
    env_file = write("local.env", "REGION=eu-west-3\nAPI_TOKEN='tok-9f8e7d6c5b4a'\n")
    result = cli("run", "-v", path, "--env-file", env_file)
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"region": "eu-west-3", "token": "***"}
    assert "tok-9f8e7d6c5b4a" not in result.out + result.err


def test_a_relative_hookline_home_in_an_env_file_is_beside_the_file(
    cli, pipeline, tmp_path, write, clean_env
):
    project = tmp_path / "project"
    env_file = write("project/.env", "HOOKLINE_HOME=.hookline\nREGION=eu\n")
    clean_env.delenv("HOOKLINE_HOME")
    clean_env.chdir(tmp_path)  # not the project: the home still lands in it
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 0, result.err
    assert (project / ".hookline" / "hookline.db").is_file()


def test_serve_refuses_a_pipeline_whose_env_is_unset(tmp_path, clean_env):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    with pytest.raises(PipelineInvalid) as refused:
        load_catalog(str(tmp_path), env={})
    assert [str(p) for p in refused.value.problems] == [
        f"{tmp_path / 'p.yaml'}:8:3: env 'REGION' is not set and has no default: set the "
        "environment variable REGION, or put REGION=... in the file given to --env-file"
    ]
    assert load_catalog(str(tmp_path), env={"REGION": "eu"}).pipelines


# --- the env file's syntax -------------------------------------------------------------


def test_env_file_syntax():
    text = (
        "# a comment\n"
        "\n"
        "export A=1\n"
        "B = two words   # a comment\n"
        "C='single # kept $(not run) ${NOT_EXPANDED}'\n"
        'D="tab\\there \\"quoted\\" \\\\ done"  # comment\n'
        "E=\n"
        "  F=indented\n"
        "G=a#b\n"
    )
    assert parse_env_text(text) == {
        "A": "1",
        "B": "two words",
        "C": "single # kept $(not run) ${NOT_EXPANDED}",
        "D": 'tab\there "quoted" \\ done',
        "E": "",
        "F": "indented",
        "G": "a#b",
    }


def test_every_malformed_line_is_located(write):
    path = write(
        "bad.env",
        'A=1\njust words\n1X=2\nA=3\nC="x\\q"\nD=\'ok\' trailing\nB="open\nA=4\n',
    )
    with pytest.raises(PipelineInvalid) as bad:
        read_env_file(path)
    assert [str(p) for p in bad.value.problems] == [
        f"{path}:2:1: expected NAME=VALUE (or a # comment)",
        f"{path}:3:1: the name before = is not a variable name: letters, digits and _, not "
        "starting with a digit",
        f"{path}:4:1: A is set twice (first on line 1)",
        f'{path}:5:5: unknown escape in the value of C: \\ is followed by n, t, r, " or \\ only',
        f"{path}:6:8: unexpected text after the closing ' of D",
        f'{path}:7:3: the value of B has no closing ": a quoted value runs until its closing '
        "quote, over lines if need be",
    ]


def test_a_bad_env_file_stops_the_command_with_exit_2(cli, pipeline, write):
    env_file = write("bad.env", "REGION eu\n")
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 2
    assert result.err.strip() == f"{env_file}:1:1: expected NAME=VALUE (or a # comment)"


def test_a_missing_env_file(cli, pipeline, tmp_path):
    missing = str(tmp_path / "nope.env")
    result = cli("run", pipeline, "--env-file", missing)
    assert result.code == 2
    assert (
        result.err.strip() == f"{missing}:1:1: cannot read the env file: No such file or directory"
    )


def test_an_env_file_that_is_not_a_regular_file(cli, pipeline, tmp_path):
    result = cli("run", pipeline, "--env-file", str(tmp_path))
    assert result.code == 2
    assert result.err.strip() == f"{tmp_path}:1:1: the env file is not a regular file"


def test_an_env_file_over_the_size_limit(cli, pipeline, write):
    env_file = write("big.env", "A=" + "x" * (1024 * 1024) + "\n")
    result = cli("run", pipeline, "--env-file", env_file)
    assert result.code == 2
    assert result.err.strip() == (
        f"{env_file}:1:1: the env file is larger than 1048576 bytes (1 MiB)"
    )


def test_an_env_file_that_is_not_utf8(cli, pipeline, tmp_path):
    env_file = tmp_path / "latin1.env"
    env_file.write_bytes(b"A=1\nB=caf\xe9\n")
    result = cli("run", pipeline, "--env-file", str(env_file))
    assert result.code == 2
    assert result.err.strip() == f"{env_file}:2:1: the env file is not UTF-8 text"


def test_a_replay_reads_env_as_a_run_does(cli, pipeline, clean_env, tmp_path):
    db = tmp_path / "h.db"
    clean_env.setenv("REGION", "eu")
    assert cli("run", pipeline, "--db", str(db)).code == 0
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT id FROM runs").fetchone()
    conn.close()
    clean_env.setenv("REGION", "us")
    result = cli("replay", run_id, "--db", str(db))
    assert result.code == 0, result.err
    assert json.loads(result.out) == "https://crm.example.com/api/contacts?limit=50&region=us"
    clean_env.delenv("REGION")
    result = cli("replay", run_id, "--db", str(db))
    assert result.code == 2
    assert "env 'REGION' is not set and has no default" in result.err
