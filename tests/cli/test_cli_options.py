"""The command line a user expects: --version, global options anywhere, help everywhere."""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hookline import __version__
from hookline.cli import build_parser
from hookline.cli._globals import walk

PIPELINE = """\
version: 1
name: tiny
steps:
  - id: hello
    set: "${{ input }}"
output: "${{ steps.hello }}"
"""


def _all_parsers() -> list[argparse.ArgumentParser]:
    return list(walk(build_parser()))


def test_every_option_and_argument_of_every_command_has_help():
    missing = [
        f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in _all_parsers()
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_every_command_has_a_one_line_help():
    for parser in _all_parsers():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                assert [n for n in action.choices if not helps.get(n)] == [], parser.prog


def test_the_walk_sees_nested_commands():
    progs = {parser.prog for parser in _all_parsers()}
    assert {"hookline runs show", "hookline runs prune", "hookline init"} <= progs


def test_version(cli):
    hookline = cli("--version")
    assert (hookline.code, hookline.out) == (0, f"hookline {__version__}\n")
    run_pipeline = cli("--version", prog="run-pipeline")
    assert (run_pipeline.code, run_pipeline.out) == (0, f"run-pipeline {__version__}\n")


def _history_with_one_run(cli, write, db: Path) -> str:
    path = write("tiny.yaml", PIPELINE)
    result = cli("run", path, "--input", '"hi"', "--db", str(db))
    assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT id FROM runs").fetchone()
    conn.close()
    return str(run_id)


@pytest.mark.parametrize(
    "where",
    [
        ["--db", "{db}", "runs", "show", "{id}"],
        ["runs", "--db", "{db}", "show", "{id}"],
        ["runs", "show", "--db", "{db}", "{id}"],
        ["runs", "show", "{id}", "--db", "{db}"],
    ],
    ids=["before-the-command", "between-runs-and-show", "after-show", "last"],
)
def test_db_is_used_in_any_position(cli, write, tmp_path, where):
    db = tmp_path / "elsewhere.db"
    run_id = _history_with_one_run(cli, write, db)
    argv = [w.format(db=db, id=run_id) for w in where] + ["--format", "json"]
    result = cli(*argv)
    assert result.code == 0, result.err
    assert json.loads(result.out)["id"] == run_id


def test_format_given_to_runs_reaches_show(cli, write, tmp_path):
    db = tmp_path / "h.db"
    run_id = _history_with_one_run(cli, write, db)
    result = cli("runs", "--format", "json", "--db", str(db), "show", run_id)
    assert result.code == 0, result.err
    assert json.loads(result.out)["id"] == run_id


def test_db_on_a_command_that_keeps_no_history_is_a_usage_error(cli, write):
    path = write("tiny.yaml", PIPELINE)
    result = cli("--db", "x.db", "check", path)
    assert result.code == 2
    assert result.err.splitlines()[-1] == (
        "hookline: error: --db: 'hookline check' does not use the run history"
    )


@pytest.mark.parametrize("where", ["first", "after-command", "last"])
def test_debug_in_any_position(cli, write, where):
    path = write("tiny.yaml", PIPELINE)
    argv = {
        "first": ["--debug", "check", path],
        "after-command": ["check", "--debug", path],
        "last": ["check", path, "--debug"],
    }[where]
    result = cli(*argv)
    assert result.code == 0, result.err


def test_env_file_in_any_position(cli, write, tmp_path):
    path = write("tiny.yaml", PIPELINE.replace("${{ input }}", "${{ env.GREETING }}"))
    path = write(
        "tiny.yaml", Path(path).read_text().replace("name: tiny", "name: tiny\nenv: {GREETING: }")
    )
    env = write("local.env", "GREETING=hello from the file\n")
    for argv in (
        ["--env-file", env, "run", path],
        ["run", "--env-file", env, path],
        ["run", path, "--env-file", env],
    ):
        result = cli(*argv)
        assert result.code == 0, result.err
        assert json.loads(result.out) == "hello from the file"


def test_completion_is_not_imported_by_a_run(tmp_path):
    """argcomplete is imported only while a shell asks for completions."""
    pipeline = tmp_path / "tiny.yaml"
    pipeline.write_text(PIPELINE)
    code = (
        "import sys\n"
        "from hookline.cli import run_pipeline_main\n"
        f"run_pipeline_main([{str(pipeline)!r}, '--input', '1'])\n"
        "print('argcomplete' in sys.modules)\n"
    )
    env = {"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.splitlines()[-1] == "False"


def test_completion_lists_commands_and_options(tmp_path):
    """What bash gets back when it asks argcomplete to complete ``hookline r``."""
    line = "hookline r"
    env = {
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_SHELL": "bash",
        "HOOKLINE_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
    }
    completions = tmp_path / "completions"
    code = (
        "import os\n"
        f"os.environ['_ARGCOMPLETE_STDOUT_FILENAME'] = {str(completions)!r}\n"
        "from hookline.cli import main\n"
        "main()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert sorted(completions.read_text().split("\n")) == ["replay", "run", "runs"]
