"""``hookline check DIR`` searches as ``hookline test`` does: no hidden files or folders,
no dependency trees; a file named on the command line is always checked."""

from __future__ import annotations

from pathlib import Path

import pytest

VALID = "version: 1\nname: ok\nsteps:\n  - id: a\n    set: 1\n"
NOT_A_PIPELINE = "repos:\n  - repo: local\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "pipelines/a.yaml": VALID,
        "pipelines/b.yml": VALID,
        ".pre-commit-config.yaml": NOT_A_PIPELINE,
        "pipelines/.hidden.yaml": NOT_A_PIPELINE,
        ".github/workflows/ci.yaml": NOT_A_PIPELINE,
        "node_modules/pkg/config.yaml": NOT_A_PIPELINE,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_directory_walk_leaves_out_hidden_files_and_dependency_trees(cli, tree, monkeypatch):
    monkeypatch.chdir(tree)
    result = cli("check", ".")
    assert result.code == 0, result.out + result.err
    assert result.err.splitlines() == ["2 files checked: all valid"]


def test_a_hidden_file_named_is_checked(cli, tree, monkeypatch):
    monkeypatch.chdir(tree)
    result = cli("check", ".pre-commit-config.yaml")
    assert result.code == 2
    assert ".pre-commit-config.yaml:1:1: unknown key 'repos'" in result.out


def test_a_hidden_folder_named_is_searched(cli, tree, monkeypatch):
    monkeypatch.chdir(tree)
    (tree / ".github" / "workflows" / "ci.yaml").write_text(VALID)
    result = cli("check", ".github")
    assert result.code == 0, result.out + result.err
    assert result.err.splitlines() == ["1 file checked: all valid"]
