"""The distributed mode's systemd units (deploy/systemd), checked by systemd-analyze verify
and against hookline's own command line."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hookline.cli import build_parser
from support import ROOT

DEPLOY = ROOT / "deploy" / "systemd"
UNITS = ("hookline-serve.service", "hookline-worker.service")
ENV_EXAMPLE = DEPLOY / "hookline.env.example"
ANALYZE = shutil.which("systemd-analyze")
# CI installs it (.ci/run): there a missing one fails the test instead of skipping it.
CI = bool(os.environ.get("CI"))
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and not CI, reason="systemd-analyze is not installed"
)


def settings(unit: str) -> dict[str, list[str]]:
    """``Key=value`` lines of the unit (comments and sections left out), by key."""
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / unit).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def install(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this hookline (verify wants it to exist)."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "hookline").exists()
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/hookline/.venv/bin/", f"{bin_dir}/"))
    return tmp_path


def verify(folder: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ANALYZE), "verify", f"./{unit}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_accepts_the_units(tmp_path: Path, unit: str) -> None:
    done = verify(install(tmp_path), unit)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # an unknown key is only a warning: none allowed


@needs_analyze
def test_systemd_analyze_would_catch_a_mistake(tmp_path: Path) -> None:
    folder = install(tmp_path)
    unit = folder / "hookline-worker.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystems=strict"))
    done = verify(folder, "hookline-worker.service")
    assert "Unknown key 'ProtectSystems'" in done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_command_lines_are_ones_hookline_accepts(unit: str) -> None:
    [exec_start] = settings(unit)["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/hookline/.venv/bin/hookline"
    args = build_parser().parse_args(argv[1:])
    assert args.command == unit.removeprefix("hookline-").removesuffix(".service")
    assert args.directory == "/etc/hookline/pipelines"


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_waits_longer_than_the_grace_before_it_kills(unit: str) -> None:
    """SIGTERM gives runs --grace seconds, then hands them back: systemd's SIGKILL must
    not come first."""
    found = settings(unit)
    args = build_parser().parse_args(shlex.split(found["ExecStart"][0])[1:])
    assert found["KillSignal"] == ["SIGTERM"]
    assert float(found["TimeoutStopSec"][0]) >= args.grace + 20


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_are_hardened_and_write_only_to_the_home(unit: str) -> None:
    found = settings(unit)
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "User": "hookline",
        "CapabilityBoundingSet": "",
    }.items():
        assert found[key] == [value], key
    [home] = [v.removeprefix("HOOKLINE_HOME=") for v in found["Environment"]]
    assert found["ReadWritePaths"] == [home]
    assert f"/var/lib/{found['StateDirectory'][0]}" == home


def test_the_env_file_example_names_what_the_units_and_hookline_read(cli) -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for unit in UNITS:
        assert settings(unit)["EnvironmentFile"] == ["/etc/hookline/hookline.env"]
    assert "/etc/hookline/hookline.env" in text and "-m 0600" in text
    names = set(re.findall(r"^#?(HOOKLINE_\w+)=", text, re.MULTILINE))
    assert names == {"HOOKLINE_BROKER_URL", "HOOKLINE_DATABASE_URL", "HOOKLINE_REDIS_URL"}
    for command in ("serve", "worker"):
        shown = cli(command, "--help")
        assert shown.code == 0
        described = " ".join(shown.out.split())  # argparse wraps lines anywhere
        for name in names:
            assert f"${name}" in described, (command, name)
    # Placeholders only: every URL's password is one to replace.
    for url in re.findall(r"^HOOKLINE_\w+=(\S+)", text, re.MULTILINE):
        assert ":<password>@" in url
