"""``hookline serve`` stamps its text log lines with the time when stderr is not a
terminal (a journal that does not stamp lines, a file), as ``hookline run`` does: its own
lines and the lines of the runs it starts; ``HOOKLINE_LOG_TIME=never`` leaves them bare."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serve_support import Serve, hook

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
SERVING = r"serving .* on http://127\.0\.0\.1:(\d+);.* on http://[^:]+:(\d+)"


def _serve(tmp_path: Path, setting: str) -> tuple[Serve, str]:
    """Start serve with HOOKLINE_LOG_TIME=``setting``, run one webhook; its stderr."""
    directory = tmp_path / "p"
    directory.mkdir()
    (directory / "echo.yaml").write_text(hook("echo", "/hooks/echo"), encoding="utf-8")
    serve = Serve(directory, tmp_path / "home", env={"HOOKLINE_LOG_TIME": setting})
    serve.start(wait=False)
    found = serve.wait_for(SERVING)
    if found is None:
        serve.stop()
        raise AssertionError("serve did not start:\n" + serve.stderr)
    serve.port, serve.admin_port = int(found.group(1)), int(found.group(2))
    return serve, directory.name


@pytest.mark.parametrize("setting", ["auto", "never"])
def test_serve_and_its_runs_stamp_lines_in_a_pipe(tmp_path: Path, setting: str) -> None:
    serve, _ = _serve(tmp_path, setting)
    try:
        answer = serve.post("/hooks/echo", {"n": 1})
        assert answer.status in (200, 202), answer.body
        assert serve.wait_for(r"echo: ok \(") is not None, serve.stderr
    finally:
        serve.stop()
    stamp = STAMP if setting == "auto" else ""
    lines = serve.stderr.splitlines()
    assert any(re.fullmatch(stamp + SERVING + ".*", line) for line in lines), lines
    assert any(re.fullmatch(stamp + r"echo: ok \(\d+\.\d\ds\)", line) for line in lines), lines
    if setting == "never":
        assert not any(re.match(STAMP, line) for line in lines), lines
