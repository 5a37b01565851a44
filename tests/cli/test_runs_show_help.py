"""Small things a new user met: ``runs show --iteration`` past the end names the loop's
range, ``runs show --help`` says what it does, a repeated ``--var`` is a usage error, and
tab completion of ``runs show`` offers recent run ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOOP = """\
version: 1
name: loop
vars:
  tag: none
steps:
  - id: push
    for_each:
      items: input
      steps:
        - id: create
          set: "${{ item }}"
"""


def _run(cli, write, tmp_path: Path) -> tuple[str, str]:
    db = str(tmp_path / "h.db")
    assert cli("run", write("loop.yaml", LOOP), "--db", db, "--input", "[1, 2, 3]").code == 0
    return db, json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]


def test_an_iteration_past_the_end_names_the_loops_range(cli, write, tmp_path):
    db, run_id = _run(cli, write, tmp_path)
    for pick in ("5", "push[5]"):
        for fmt in ("text", "json"):
            result = cli("runs", "show", run_id, "--db", db, "--iteration", pick, "--format", fmt)
            assert (result.code, result.err) == (
                2,
                f"error: run {run_id} has no loop iteration {pick} "
                "(loop 'push' ran iterations 0 to 2)\n",
            )
    result = cli("runs", "show", run_id, "--db", db, "--iteration", "send[0]")
    assert result.err == (
        f"error: run {run_id} has no loop iteration send[0] (no loop 'send' ran there)\n"
    )


def test_runs_show_help_has_a_description(cli):
    out = cli("runs", "show", "--help").out
    assert out.split("\n\n")[1].startswith("Show one recorded run: its input, each step,")


def test_a_var_given_twice_is_a_usage_error_naming_it(cli, write):
    result = cli("run", write("loop.yaml", LOOP), "--var", "tag=x", "--var", "tag=y")
    assert (result.code, result.err) == (
        2,
        "error: --var tag: given more than once; give each var once\n",
    )


def test_completion_of_runs_show_offers_recent_run_ids(cli, write, tmp_path):
    db, run_id = _run(cli, write, tmp_path)
    line = f"hookline runs show --db {db} {run_id[:3]}"
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
    assert completions.read_text().split("\n") == [run_id[:12] + " "]  # the only one
