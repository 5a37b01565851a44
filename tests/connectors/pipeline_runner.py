"""Write a pipeline, run it through the real command line, return what a user sees."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookline.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    db: Path

    @property
    def output(self) -> Any:
        return json.loads(self.out)


def run_yaml(
    tmp_path: Path,
    text: str,
    *args: str,
    input: Any = None,
    capsys: Any,
    name: str = "pipeline.yaml",
) -> Outcome:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    db = tmp_path / "history.db"
    argv = ["run", str(path), "--db", str(db), *args]
    if input is not None:
        argv += ["--input", json.dumps(input)]
    stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        code = main(argv)
    finally:
        sys.stdin = stdin
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err, db)
