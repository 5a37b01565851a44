"""``hookline cron DIR``: crontab lines that crontab accepts and that run the pipeline
when cron's shell runs them, with a timestamped log in the hookline home."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hookline.cli.cron import same_clock, system_zone

SCHEDULED = """\
version: 1
name: {name}
trigger:
  schedule:
    cron: "{cron}"{zone}
    input: {{day: "today"}}
steps:
  - id: greet
    set: "hello ${{{{ input.day }}}}"
output: "${{{{ steps.greet }}}}"
"""

CRONTAB = shutil.which("crontab")
# CI installs it (.ci/run): there a missing one fails the test instead of skipping it.
CI = bool(os.environ.get("CI"))


def scheduled(directory: Path, name: str, cron: str = "*/5 * * * *", zone: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    timezone = f"\n    timezone: {zone}" if zone else ""
    path.write_text(SCHEDULED.format(name=name, cron=cron, zone=timezone), encoding="utf-8")
    return path


def jobs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def as_cron_runs(line: str) -> tuple[str, str | None]:
    """What cron does with a job's command (crontab(5)): the text up to the first bare
    '%' goes to /bin/sh, '\\%' becomes '%', and the rest is the command's stdin."""
    command = line.split(None, 5)[5]
    parts = re.split(r"(?<!\\)%", command)
    return parts[0].replace("\\%", "%"), ("\n".join(parts[1:]) if len(parts) > 1 else None)


def test_lines_run_the_pipeline_as_cron_would(cli, tmp_path):
    # A '%' and a space in the path: cron would cut the command at a bare '%'.
    pipelines = tmp_path / "50% of pipelines"
    path = scheduled(pipelines, "nightly-sync", cron="30 2 * * *")
    scheduled(pipelines, "by-hand", cron="0 * * * *").write_text(
        "version: 1\nname: by-hand\nsteps:\n  - id: a\n    set: 1\n", encoding="utf-8"
    )
    result = cli("cron", str(pipelines))
    assert result.code == 0, result.err
    home = (tmp_path / "hookline-home").resolve()
    env_line, job, prune = jobs(result.out)
    assert env_line == f"HOOKLINE_HOME={home}"
    assert job.startswith("30 2 * * * /")
    assert "\\%" in job and "\\\n" not in result.out
    assert f"# nightly-sync: {path.resolve()}" in result.out.splitlines()

    command, stdin = as_cron_runs(job)
    assert stdin is None  # no bare '%' left: cron passes the whole command to the shell
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
    env["HOOKLINE_HOME"] = env_line.split("=", 1)[1]
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""  # nothing for cron to mail
    log = home / "logs" / "nightly-sync.log"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in records
    )
    listed = json.loads(cli("runs", "--format", "json").out)
    assert [(run["pipeline"], run["status"]) for run in listed] == [("nightly-sync", "succeeded")]

    # The daily prune line runs too (nothing is old enough to go).
    assert prune.startswith("17 4 * * * /") and prune.endswith(
        " runs prune 2>>" + str(home / "logs" / "prune.log")
    )
    command, _ = as_cron_runs(prune)
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (home / "logs" / "prune.log").read_text().splitlines()[0] == (
        "deleted 0 runs (older than 30 days); 1 kept"
    )


@pytest.mark.skipif(CRONTAB is None and not CI, reason="crontab is not installed")
def test_crontab_accepts_the_lines(cli, tmp_path):
    pipelines = tmp_path / "p"
    scheduled(pipelines, "a", cron="*/15 * * * *")
    scheduled(pipelines, "b", cron="0 6 * * mon-fri")
    scheduled(pipelines, "c", cron="0 7 * * mon", zone="Pacific/Kiritimati")
    result = cli("cron", str(pipelines))
    assert result.code == 0
    table = tmp_path / "crontab"
    table.write_text(result.out)
    checked = subprocess.run(
        [str(CRONTAB), "-n", str(table)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr + result.out
    assert "successfully checked" in checked.stdout + checked.stderr
    # ... and refuses a broken one, so the check above can fail.
    table.write_text(result.out.replace("0 6 * * mon-fri", "0 6 * * mon-fry"))
    broken = subprocess.run([str(CRONTAB), "-n", str(table)], capture_output=True, text=True)
    assert broken.returncode != 0


def test_a_schedule_in_another_zone_is_commented_out_with_the_reason(cli, tmp_path):
    system = system_zone() or "UTC"
    other = "Pacific/Kiritimati" if not same_clock(system, "Pacific/Kiritimati") else "UTC"
    scheduled(tmp_path / "p", "report", cron="0 7 * * mon", zone=other)
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 0
    assert len(jobs(result.out)) == 2  # HOOKLINE_HOME and prune: the job is not active
    assert (
        f"# not active: the schedule is in {other} and Debian's cron reads it in {system} "
        f"(it has no CRON_TZ). Set the schedule's timezone to {system}, run it with "
        "'hookline serve', or use a cron with CRON_TZ (hookline cron --cron-tz)"
    ) in result.out.splitlines()
    assert any(line.startswith("#0 7 * * mon /") for line in result.out.splitlines())
    assert result.err == (
        f"warning: {tmp_path / 'p' / 'report.yaml'}: its schedule is in {other}, the "
        f"system's cron reads times in {system}: the line is commented out (see --cron-tz)\n"
    )
    with_tz = cli("cron", "--cron-tz", str(tmp_path / "p"))
    assert jobs(with_tz.out)[1] == f"CRON_TZ={other}"
    assert jobs(with_tz.out)[2].startswith("0 7 * * mon /")
    assert with_tz.err == ""


def test_an_equivalent_zone_name_is_not_another_zone():
    assert same_clock("UTC", "Etc/UTC")
    assert same_clock("Europe/Madrid", "Europe/Madrid")
    assert not same_clock("Europe/Madrid", "Europe/London")
    assert not same_clock("UTC", "Europe/London")  # equal in winter only


def test_an_invalid_pipeline_prints_no_line(cli, tmp_path):
    scheduled(tmp_path / "p", "good")
    bad = scheduled(tmp_path / "p", "bad", cron="61 * * * *")
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        f"{bad}:5:11: invalid cron expression '61 * * * *': minute 61 is out of range (0-59)\n"
    )


def test_two_pipelines_with_one_name_are_refused(cli, tmp_path):
    first = scheduled(tmp_path / "p", "same")
    second = tmp_path / "p" / "z.yaml"
    second.write_text(first.read_text(), encoding="utf-8")
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 2
    assert result.err == (
        f"error: {second}: the name 'same' is also the name of {first}; every pipeline "
        "needs a name of its own\n"
    )


def test_secrets_are_named_not_given(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    path = tmp_path / "p" / "s.yaml"
    path.parent.mkdir()
    path.write_text(
        "version: 1\nname: s\nsecrets: [API_TOKEN]\ntrigger:\n  schedule:\n"
        '    cron: "0 * * * *"\nsteps:\n  - id: a\n    set: "${{ secrets.API_TOKEN }}"\n',
        encoding="utf-8",
    )
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 0
    assert (
        "# it reads the secrets API_TOKEN: cron passes no environment, so set each (or "
        "NAME_FILE, a file holding it) above this line"
    ) in result.out.splitlines()
    assert "s3cr3t-value" not in result.out + result.err


def test_no_scheduled_pipeline_is_a_warning(cli, tmp_path):
    path = tmp_path / "p" / "m.yaml"
    path.parent.mkdir()
    path.write_text("version: 1\nname: m\nsteps:\n  - id: a\n    set: 1\n", encoding="utf-8")
    result = cli("cron", str(tmp_path / "p"))
    assert result.code == 0
    assert result.err == f"warning: {tmp_path / 'p'}: no pipeline with a schedule trigger\n"
    assert os.path.isdir(tmp_path / "hookline-home" / "logs")


@pytest.mark.skipif(CRONTAB is None and not CI, reason="crontab is not installed")
def test_crontab_accepts_the_lines_for_the_examples(cli, tmp_path):
    from support import ROOT

    result = cli("cron", str(ROOT / "pipelines"))
    assert result.code == 0, result.err
    assert any(" runs prune " in line for line in jobs(result.out))
    table = tmp_path / "crontab"
    table.write_text(result.out)
    checked = subprocess.run([str(CRONTAB), "-n", str(table)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_lines_follow_the_crontab_rules_without_crontab(cli, tmp_path):
    """What crontab(5) requires, checked by hand (CI machines may have no crontab): a
    comment, a NAME=value line, or five valid fields and a command on one line, with
    no bare '%' and no continuation."""
    from croniter import croniter

    pipelines = tmp_path / "50% of pipelines"
    scheduled(pipelines, "a", cron="*/15 * * * *")
    scheduled(pipelines, "b", cron="0 6 * * mon-fri")
    result = cli("cron", str(pipelines))
    assert result.code == 0
    commands = 0
    for line in result.out.splitlines():
        assert not line.endswith("\\")
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S.*", line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        assert croniter.is_valid(" ".join(fields[:5])), line
        assert re.search(r"(?<!\\)%", fields[5]) is None, line
        commands += 1
    assert commands == 3  # a, b and the daily prune
