"""The serve extra (uvicorn, prometheus_client) loads only for ``hookline serve``: a run
of a webhook pipeline by hand, and ``hookline check`` of one, import none of it. Each case
runs in a fresh interpreter, so that other tests' imports cannot hide one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from serve_support import SIGNED, hook

SERVE_ONLY = ("uvicorn", "prometheus_client", "uvloop", "httptools", "hookline.serve._app")

PROBE = f"""
import contextlib, io, json, sys
from hookline.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({{"code": code, "imported": [m for m in {SERVE_ONLY!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("command", [["run", "--input", "{}"], ["check"]])
def test_no_module_of_serve_is_imported_outside_serve(tmp_path: Path, command: list[str]) -> None:
    pipeline = tmp_path / "hook.yaml"
    pipeline.write_text(hook("lazy", "/hooks/lazy", trigger_extra=SIGNED))
    argv = [command[0], str(pipeline), *command[1:]]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOOKLINE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"code": 0, "imported": []}
