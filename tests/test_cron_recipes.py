"""The systemd recipes of docs/schedules.md, checked by systemd-analyze verify."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

DOC = ROOT / "docs" / "schedules.md"
UNITS = dict(re.findall(r"```ini systemd:(\S+)\n(.*?)```", DOC.read_text(), re.DOTALL))
ANALYZE = shutil.which("systemd-analyze")
# CI installs it (.ci/run): there a missing one fails the test instead of skipping it.
CI = bool(os.environ.get("CI"))


def test_the_recipes_hold_three_units():
    assert sorted(UNITS) == [
        "hookline-nightly-stock-sync.service",
        "hookline-nightly-stock-sync.timer",
        "hookline-serve.service",
    ]


def install(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this hookline."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "hookline").exists() and (bin_dir / "run-pipeline").exists()
    for name, text in UNITS.items():
        (tmp_path / name).write_text(text.replace("/opt/hookline/.venv/bin/", f"{bin_dir}/"))
    return tmp_path


@pytest.mark.skipif(ANALYZE is None and not CI, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["hookline-serve.service", "hookline-nightly-stock-sync.timer"])
def test_systemd_analyze_accepts_the_units(tmp_path, unit):
    folder = install(tmp_path)
    done = subprocess.run(
        [str(ANALYZE), "verify", f"./{unit}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # an unknown key is only a warning: none allowed


@pytest.mark.skipif(ANALYZE is None and not CI, reason="systemd-analyze is not installed")
def test_systemd_analyze_would_catch_a_mistake(tmp_path):
    folder = install(tmp_path)
    unit = folder / "hookline-serve.service"
    unit.write_text(unit.read_text().replace("TimeoutStopSec", "TimeoutStopSecs"))
    done = subprocess.run(
        [str(ANALYZE), "verify", "./hookline-serve.service"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Unknown key 'TimeoutStopSecs'" in done.stderr


def test_the_pipeline_of_the_page_is_valid(cli, tmp_path):
    [example] = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    path = tmp_path / "nightly.yaml"
    path.write_text(example, encoding="utf-8")
    result = cli("check", str(path))
    assert result.code == 0, result.out + result.err
