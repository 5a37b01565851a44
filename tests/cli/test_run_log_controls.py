"""The text log writes what an upstream or an input may carry as visible text: control
characters cannot clear a terminal or start a line that looks like one of hookline's."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from hookline.cli import main

PIPELINE = """\
version: 1
name: controls
steps:
  - id: boom
    fail: "${{ input.msg }}"
"""


def _run(tmp_path: Path, msg: str, capsys, *args: str) -> tuple[int, str]:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    argv = ["run", str(path), "--db", str(tmp_path / "h.db"), "--input", json.dumps({"msg": msg})]
    stdin, sys.stdin = sys.stdin, io.StringIO("")
    try:
        code = main([*argv, *args])
    finally:
        sys.stdin = stdin
    return code, capsys.readouterr().err


def test_control_characters_in_a_message_are_written_escaped(tmp_path, capsys):
    code, err = _run(tmp_path, "bad \x1b[2J\x07 end\r", capsys)
    assert code == 1
    assert "error: step 'boom' failed: bad \\x1b[2J\\x07 end\\r" in err
    assert "\x1b" not in err and "\x07" not in err and "\r" not in err


def test_a_line_break_in_a_message_continues_indented(tmp_path, capsys):
    code, err = _run(tmp_path, "bad\nerror: forged line", capsys)
    assert code == 1
    assert "failed: bad\n  error: forged line" in err
    assert not any(line.startswith("error: forged") for line in err.splitlines())


def test_the_json_log_keeps_the_text_as_it_was(tmp_path, capsys):
    code, err = _run(tmp_path, "bad\n\x1b", capsys, "--log-format", "json")
    assert code == 1
    messages = [json.loads(line)["message"] for line in err.splitlines() if line.startswith("{")]
    assert any("bad\n\x1b" in m for m in messages)
