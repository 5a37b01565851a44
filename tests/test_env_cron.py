"""hookline cron and env: a job line says which env names need a value, or passes the
--env-file given to cron on to every run; the line then runs as cron would run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

SCHEDULED = """\
version: 1
name: nightly
trigger:
  schedule:
    cron: "30 2 * * *"
env:
  REGION:
steps:
  - id: where
    set: "region ${{ env.REGION }}"
output: "${{ steps.where }}"
"""


def _job(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("30 2 "))


def test_a_job_names_the_env_values_it_needs(cli, tmp_path: Path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "nightly.yaml").write_text(SCHEDULED)
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 0, result.err
    assert (
        "# it reads env REGION (no default): set each above this line, or run "
        "'hookline cron --env-file FILE' to pass the file to every run"
    ) in result.out.splitlines()
    assert "--env-file" not in _job(result.out)


def test_the_env_file_given_to_cron_reaches_every_run(cli, tmp_path: Path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "nightly.yaml").write_text(SCHEDULED)
    env_file = tmp_path / "prod.env"
    env_file.write_text("REGION=eu-west-3\n")
    result = cli("cron", str(tmp_path / "p"), "--env-file", str(env_file))
    assert result.code == 0, result.err
    job = _job(result.out)
    assert f"--env-file {env_file.resolve()}" in job
    assert "# it reads env" not in result.out
    # Run the command as cron's shell would, output to a file instead of /dev/null.
    command = job.split(None, 5)[5].replace(" >/dev/null", f" --output {tmp_path / 'out.json'}")
    home = next(line for line in result.out.splitlines() if line.startswith("HOOKLINE_HOME="))
    env = {"PATH": "/usr/bin:/bin", "HOOKLINE_HOME": home.split("=", 1)[1]}
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == "region eu-west-3"
