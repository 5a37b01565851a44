"""hookline check: every file, every problem, whatever else is wrong on the command line."""

from __future__ import annotations

import json

GOOD = "version: 1\nname: good\nsteps:\n  - id: a\n    set: 1\n"
BAD = "version: 1\nname: bad\nsteps:\n  - id: a\n    sett: 1\n"


def test_a_missing_path_does_not_stop_the_others(cli, write, tmp_path):
    good, bad = write("good.yaml", GOOD), write("bad.yaml", BAD)
    missing = str(tmp_path / "missing.yaml")
    result = cli("check", good, missing, bad)
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{bad}:5:5: steps[0]: unknown key 'sett'; did you mean 'set'?",
    ]
    assert f"error: {missing}: no such file or directory" in result.err
    assert "2 files checked: 1 problem in 1; 1 path not checked" in result.err


def test_only_a_missing_path_is_not_reported_as_valid(cli, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    result = cli("check", missing)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {missing}: no such file or directory",
        "no file checked; 1 path not checked",
    ]


def test_json_report_holds_files_and_errors(cli, write, tmp_path):
    good = write("good.yaml", GOOD)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    result = cli("check", "--format", "json", good, str(empty_dir))
    assert result.code == 2
    report = json.loads(result.out)
    assert report["valid"] is False
    assert report["files"] == [{"file": good, "valid": True, "problems": []}]
    assert report["errors"] == [f"{empty_dir}: no *.yaml or *.yml files in this directory"]


def test_every_valid_file_exits_0(cli, write):
    result = cli("check", write("a.yaml", GOOD), write("b.yml", GOOD))
    assert result.code == 0
    assert result.err.strip() == "2 files checked: all valid"


def test_a_folder_without_pipelines_is_not_reported_as_valid(cli, write, tmp_path):
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "notes" / "readme.txt").write_text("no pipelines here\n", encoding="utf-8")
    result = cli("check", str(empty))
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines() == [
        f"error: {empty}: no *.yaml or *.yml files in this directory",
        "no file checked; 1 path not checked",
    ]
    good = write("good.yaml", GOOD)
    result = cli("check", good, str(empty))
    assert result.code == 2
    assert result.err.splitlines()[-1] == "1 file checked: all valid; 1 path not checked"
