"""Shared fixtures: run the command line in-process and capture what a user sees."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hookline.cli import main, run_pipeline_main

# Property tests: under CI the examples are fixed (derandomize), so a red run is
# reproducible and a green one is not luck; no example database is written, and no
# per-example deadline trips on a loaded machine. Locally they explore new examples.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """``cli("check", "x.yaml")`` runs ``hookline``; ``cli(..., prog="run-pipeline")`` the
    other entry point. ``stdin=`` feeds standard input."""

    def call(*argv: str, prog: str = "hookline", stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        entry = main if prog == "hookline" else run_pipeline_main
        try:
            code = entry(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], str]:
    """Write a file under tmp_path; return its path as text."""

    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture(autouse=True)
def _history_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs record their history under the test's own directory, never in the repo."""
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "hookline-home"))
    # Text log lines carry a timestamp when stderr is not a terminal, as it never is under
    # pytest; tests that assert whole lines read them without it (tests/test_logs*.py
    # check the timestamps themselves).
    monkeypatch.setenv("HOOKLINE_LOG_TIME", "never")
    # pytest-xdist's workers get a COLUMNS, which `hookline runs` would fit its list to;
    # tests of that fitting set it themselves.
    monkeypatch.delenv("COLUMNS", raising=False)
    # A developer's FORCE_COLOR would colour the log lines tests compare as text.
    monkeypatch.delenv("FORCE_COLOR", raising=False)
