"""`hookline check` of `code` steps: the file, the function and the argument names are
verified without running the user's code, each problem at its line and column."""

from __future__ import annotations

from pathlib import Path

CODE = """\
import sys

print("ran at check time", file=sys.stderr)
open(__file__ + ".ran", "w").close()


def score(lead, hot_at=60, *, region=None):
    return 1


def only_pos(a, /):
    return a


def anything(**kwargs):
    return kwargs


async def later(x):
    return x


def needs(a, b, *, c):
    return a
"""


def check(cli, write, step: str) -> tuple[int, str]:
    write("code/funcs.py", CODE)
    path = write("p.yaml", f"version: 1\nname: c\nsteps:\n  - id: s\n    code:\n{step}")
    result = cli("check", path)
    return result.code, (result.out + result.err).replace(str(Path(path).parent) + "/", "")


def test_a_valid_step_checks_without_running_the_code(cli, write, tmp_path):
    code, shown = check(
        cli,
        write,
        "      function: code/funcs.py:score\n      args: {lead: '${{ input }}', region: eu}\n",
    )
    assert code == 0, shown
    assert "ran at check time" not in shown
    assert not (tmp_path / "code" / "funcs.py.ran").exists()


def test_a_missing_file_is_located(cli, write):
    code, shown = check(cli, write, "      function: code/nope.py:score\n")
    assert code == 2
    assert "p.yaml:6:17: no file 'code/nope.py' beside the pipeline" in shown


def test_a_path_leaving_the_folder_is_refused(cli, write, tmp_path):
    code, shown = check(cli, write, "      function: ../funcs.py:score\n")
    assert "p.yaml:6:17: '../funcs.py' must be a path inside the pipeline's folder" in shown
    code, shown = check(cli, write, f"      function: {tmp_path}/code/funcs.py:score\n")
    assert code == 2 and "must be a path inside the pipeline's folder" in shown
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.py").write_text("def f():\n    return 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.py").symlink_to(tmp_path / "out" / "x.py")
    write(
        "sub/p.yaml",
        "version: 1\nname: c\nsteps:\n  - id: s\n    code:\n      function: link.py:f\n",
    )
    result = cli("check", str(tmp_path / "sub" / "p.yaml"))
    assert result.code == 2
    assert "p.yaml:6:17: 'link.py' leads outside the pipeline's folder" in result.out + result.err


def test_an_unknown_function_suggests_the_close_name(cli, write):
    code, shown = check(cli, write, "      function: code/funcs.py:scor\n")
    assert code == 2
    assert (
        "p.yaml:6:17: 'code/funcs.py' has no top-level function 'scor'; did you mean 'score'?"
        in shown
    )
    code, shown = check(cli, write, "      function: code/funcs.py:sys\n")
    assert (
        "has no top-level function 'sys' (it defines: anything, later, needs, only_pos, score)"
        in shown
    )


def test_an_async_function_is_refused(cli, write):
    code, shown = check(cli, write, "      function: code/funcs.py:later\n      args: {x: 1}\n")
    assert code == 2
    assert (
        "p.yaml:6:17: 'later' in 'code/funcs.py' is async: a code step calls plain functions"
        in shown
    )


def test_argument_names_must_fit_the_signature_each_at_its_key(cli, write):
    code, shown = check(
        cli,
        write,
        "      function: code/funcs.py:score\n"
        "      args:\n        lead: 1\n        hot: 2\n        colour: 3\n",
    )
    assert code == 2
    assert "p.yaml:9:9: score() has no parameter 'hot'; did you mean 'hot_at'?" in shown
    assert (
        "p.yaml:10:9: score() has no parameter 'colour' (it takes: lead, hot_at, region)" in shown
    )


def test_missing_required_arguments_are_named(cli, write):
    code, shown = check(cli, write, "      function: code/funcs.py:needs\n      args: {b: 1}\n")
    assert code == 2
    assert "p.yaml:7:13: needs() needs the arguments 'a', 'c' in args" in shown
    code, shown = check(cli, write, "      function: code/funcs.py:score\n")
    assert "p.yaml:6:17: score() needs the argument 'lead' in args" in shown


def test_positional_only_and_kwargs(cli, write):
    code, shown = check(cli, write, "      function: code/funcs.py:only_pos\n      args: {a: 1}\n")
    assert (
        "p.yaml:7:14: only_pos() takes 'a' by position only; a code step passes keywords" in shown
    )
    code, shown = check(
        cli, write, "      function: code/funcs.py:anything\n      args: {any: 1, name: 2}\n"
    )
    assert code == 0, shown


def test_a_file_that_does_not_parse_is_located(cli, write, tmp_path):
    write("code/bad.py", "def f(:\n    pass\n")
    code, shown = check(cli, write, "      function: code/bad.py:f\n")
    assert code == 2
    assert "p.yaml:6:17: 'code/bad.py' is not valid Python (line 1): invalid syntax" in shown


def test_a_malformed_reference_is_a_schema_error(cli, write):
    code, shown = check(cli, write, "      function: score\n")
    assert code == 2
    assert "p.yaml:6:17:" in shown


def test_a_changed_code_file_is_checked_again(cli, write, tmp_path):
    # check remembers the files that passed; the code file it read is part of the entry
    code, shown = check(cli, write, "      function: code/funcs.py:anything\n")
    assert code == 0, shown
    (tmp_path / "code" / "funcs.py").write_text("def other():\n    return 1\n")
    result = cli("check", str(tmp_path / "p.yaml"))
    assert result.code == 2
    assert "'code/funcs.py' has no top-level function 'anything'" in result.out + result.err
