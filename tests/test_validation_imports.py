"""A valid pipeline is checked without jsonschema: it is imported only to word the errors of
a file (or an ``input_schema``) that has some. Its import, and that of the package holding
the metaschemas of every draft, cost more than checking the file itself.

Each check runs in a fresh interpreter that reports what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from hookline.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(sys.argv[1:])
    heavy = sorted(m for m in ("jsonschema", "jsonschema_specifications", "referencing")
                   if m in sys.modules)
    print(json.dumps({"code": code, "out": out.getvalue(), "heavy": heavy}))
    """
)

PIPELINE = """\
version: 1
name: signup
trigger:
  manual:
    input_schema:
      type: object
      required: [email]
      properties:
        email: {type: string, format: email, pattern: "^[^@]+@[^@]+$"}
        tags: {type: array, items: {type: string}, uniqueItems: true}
steps:
  - id: hi
    set: "${{ input.email }}"
"""


def check(tmp_path: Path, text: str) -> dict[str, object]:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "check", "--no-cache", str(pipeline)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_a_valid_pipeline_and_input_schema_need_no_jsonschema(tmp_path: Path) -> None:
    assert check(tmp_path, PIPELINE) == {"code": 0, "out": "", "heavy": []}


def test_a_broken_input_schema_is_worded_by_jsonschema(tmp_path: Path) -> None:
    report = check(tmp_path, PIPELINE.replace("type: array", "type: arry"))
    assert report["code"] == 2
    assert "jsonschema" in report["heavy"]  # type: ignore[operator]
    assert str(report["out"]).split(":", 1)[1] == (
        "10:22: input_schema is not a valid JSON Schema: properties.tags.type: 'arry' (a "
        "string) is not one of array, boolean, integer, null, number, object, string; did "
        "you mean 'array'?\n"
    )
