"""A run skips reading the stored state only when no expression of the pipeline can read
it: every way an expression can reach ``state`` still gets it.

The state is set with ``hookline state set`` (as an operator would), then read by a
pipeline of the same name that has no ``save_state``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hookline import load_pipeline


def pipeline(tmp_path: Path, output: str) -> Path:
    path = tmp_path / "reader.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: reader
            steps:
              - id: one
                set: 1
            output: {json.dumps(output)}
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("${{ state.n }}", 7),
        # the whole context: its `state` is among the values of `@`
        ("${{ @.state.n }}", 7),
        ("${{ values(@)[?n].n }}", [7]),
        # a projection over the context's values: no name `state` written anywhere
        ("${{ *.n }}", [7]),
        # a quoted name with an escape spells `state` without the word
        ('${{ "\\u0073tate".n }}', 7),
    ],
)
def test_every_way_of_reading_state_reads_it(cli, tmp_path, output, expected):
    db = tmp_path / "h.db"
    put = cli("state", "set", "reader", "n", "7", "--db", str(db))
    assert put.code == 0, put.err
    path = pipeline(tmp_path, output)
    assert load_pipeline(path).reads_state
    result = cli("run", str(path), "--db", str(db), "-q")
    assert (result.code, result.err) == (0, "")
    assert json.loads(result.out) == expected


def test_a_pipeline_that_cannot_read_state_skips_it_and_sees_none(cli, tmp_path):
    db = tmp_path / "h.db"
    assert cli("state", "set", "reader", "n", "7", "--db", str(db)).code == 0
    path = pipeline(tmp_path, "${{ steps.one }}")
    assert not load_pipeline(path).reads_state
    result = cli("run", str(path), "--db", str(db), "-q")
    assert (result.code, json.loads(result.out), result.err) == (0, 1, "")
    # the stored state is untouched
    shown = cli("state", "show", "reader", "--db", str(db))
    assert json.loads(shown.out)["state"] == {"n": 7}


def test_save_state_alone_reads_the_state_it_commits_against(tmp_path):
    path = tmp_path / "saver.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: saver
            steps:
              - id: one
                set: 1
            save_state:
              last: "${{ steps.one }}"
            """
        ),
        encoding="utf-8",
    )
    assert load_pipeline(path).reads_state
