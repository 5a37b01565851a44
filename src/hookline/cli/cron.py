"""``hookline cron DIR``: crontab lines that run every scheduled pipeline under DIR.

The pipelines are checked first, as ``check`` does: nothing is printed while one is
invalid. Each line runs ``run-pipeline`` by absolute path, with the hookline home fixed
(cron's environment is almost empty), its log as timestamped JSON lines appended to
``logs/<pipeline>.log`` in the home, and its output left to the run history (``hookline
runs show``), so cron mails nothing. A last line prunes the history once a day.

What the lines may hold is what Debian's cron (``crontab -n`` accepts it) reads: one line
per job, no continuation; a ``%`` in the command is escaped as ``\\%`` (cron turns a bare
one into a newline); environment lines are ``NAME=value`` without shell expansion.
Debian's cron reads every time in the system's time zone and has no ``CRON_TZ``; a
schedule in another zone is printed commented out, with the reason, unless ``--cron-tz``
asks for the ``CRON_TZ=`` lines that cronie (Fedora, RHEL) and others understand.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._errors import PipelineInvalid, Problem, UsageError
from .._home import default_home
from .._load import load_pipeline
from .._model import Pipeline
from ..testing._names import is_test_file
from ..triggers.schedule import Schedule, schedule_of
from .check import check_file, expand

LOGS_DIR = "logs"
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Universal", "Zulu", "Etc/Universal"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cron",
        help="print crontab lines for the scheduled pipelines in a directory",
        description="Check every pipeline under DIR, then print one crontab line for each "
        "scheduled pipeline, running run-pipeline by absolute path with a timestamped log "
        "in the hookline home. Install them with 'hookline cron DIR | crontab -' (this "
        "replaces your crontab) or paste them into 'crontab -e'. Exit 2 when a pipeline is "
        "invalid.",
    )
    p.add_argument("directory", metavar="DIR", help="the folder of pipeline files")
    p.add_argument(
        "--cron-tz",
        action="store_true",
        help="write CRON_TZ= lines for schedules in another time zone than the system's "
        "(cronie and others; Debian's cron ignores CRON_TZ, so by default such schedules "
        "are printed commented out)",
    )
    p.set_defaults(handler=handle)


def system_zone() -> str | None:
    """The time zone the system's cron reads times in: /etc/timezone (Debian's cron reads
    it), else the zone /etc/localtime links to; None when neither says."""
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    _, found, zone = target.partition("zoneinfo/")
    return zone if found and zone else None


def same_clock(one: str, other: str, days: int = 400) -> bool:
    """True when two zones show the same wall time at every hour of the next ``days``:
    'Etc/UTC' and 'UTC', or two names of one zone."""
    if one == other or {one, other} <= _UTC_NAMES:
        return True
    try:
        a, b = ZoneInfo(one), ZoneInfo(other)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hour in range(days * 24):
        at = start + timedelta(hours=hour)
        if at.astimezone(a).utcoffset() != at.astimezone(b).utcoffset():
            return False
    return True


def command_path(name: str = "run-pipeline") -> str:
    """``run-pipeline`` (or ``hookline``) by absolute path: next to the running
    ``hookline``, else on PATH, else the interpreter with the entry point."""
    here = Path(sys.argv[0]).resolve().parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(name)
    if found:
        return str(Path(found).resolve())
    entry = "run_pipeline_main" if name == "run-pipeline" else "main"
    code = f"import sys; from hookline.cli import {entry} as m; sys.exit(m())"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _cron_text(text: str) -> str:
    """``text`` as cron passes it to /bin/sh: a '%' escaped."""
    return text.replace("%", "\\%")


def _env_line(name: str, value: str) -> str:
    # cron takes the value as written (no expansion); quotes keep leading/trailing spaces.
    return f'{name}="{value}"' if value != value.strip() or not value else f"{name}={value}"


def job_line(
    schedule: Schedule, pipeline: Pipeline, home: Path, command: str, env_file: str | None = None
) -> list[str]:
    """The comment and the crontab line of one scheduled pipeline; ``env_file``: the
    ``--env-file`` given to ``hookline cron``, passed on to every run."""
    path = pipeline.file.resolve()
    log = home.resolve() / LOGS_DIR / f"{pipeline.name}.log"  # names are file-safe
    for what in (str(path), str(log)):
        if "\n" in what or "\r" in what:
            raise UsageError(f"{what!r}: a crontab line cannot hold a line break")
    run = f"{command} {shlex.quote(str(path))} --log-format json"
    if env_file is not None:
        run += f" --env-file {shlex.quote(str(Path(env_file).resolve()))}"
    run += f" >/dev/null 2>>{shlex.quote(str(log))}"
    lines = [f"# {pipeline.name}: {path}"]
    if pipeline.secrets:
        names = ", ".join(pipeline.secrets)
        lines.append(
            f"# it reads the secrets {names}: cron passes no environment, so set each (or "
            "NAME_FILE, a file holding it) above this line"
        )
    unset = [name for name, default in pipeline.env if default is None]
    if unset and env_file is None:
        lines.append(
            f"# it reads env {', '.join(unset)} (no default): set each above this line, or "
            "run 'hookline cron --env-file FILE' to pass the file to every run"
        )
    lines.append(f"{schedule.cron} {_cron_text(run)}")
    return lines


def crontab(
    directory: str, *, cron_tz: bool = False, env_file: str | None = None
) -> tuple[list[str], list[str]]:
    """The crontab text for DIR (lines) and warnings for stderr; PipelineInvalid when a
    pipeline is invalid, UsageError when DIR holds none."""
    files, unusable = expand([directory])
    files = [f for f in files if not is_test_file(f)]  # tests (docs/testing.md) are not jobs
    if unusable:
        raise UsageError("; ".join(unusable))
    problems: list[Problem] = []
    for path in files:
        problems.extend(check_file(path))
    if problems:
        raise PipelineInvalid(problems)
    home = default_home()
    pipelines = [load_pipeline(path, cache=home) for path in files]
    seen: dict[str, Path] = {}
    for pipeline in pipelines:
        if pipeline.name in seen:  # one name is one lock: they would block each other
            raise UsageError(
                f"{pipeline.file}: the name '{pipeline.name}' is also the name of "
                f"{seen[pipeline.name]}; every pipeline needs a name of its own"
            )
        seen[pipeline.name] = pipeline.file
    command = command_path()
    system = system_zone() or "UTC"
    lines = [
        f"# hookline cron {directory}: scheduled pipelines, run by run-pipeline",
        f"# times are read in this system's time zone ({system}); logs in "
        f"{home.resolve() / LOGS_DIR}",
        _env_line("HOOKLINE_HOME", _cron_text(str(home.resolve()))),
    ]
    warnings: list[str] = []
    count = 0
    for pipeline in pipelines:
        schedule = schedule_of(pipeline)
        if schedule is None and pipeline.trigger.kind == "poll":  # run-pipeline polls once
            from ..triggers.poll import cron_schedule

            schedule = cron_schedule(pipeline)
        if schedule is None:
            continue
        count += 1
        job = job_line(schedule, pipeline, home, command, env_file)
        lines.append("")
        if cron_tz:
            lines.append(_env_line("CRON_TZ", schedule.timezone))
        elif not same_clock(schedule.timezone, system):
            job = _commented(job, schedule, system)
            warnings.append(
                f"{pipeline.file}: its schedule is in {schedule.timezone}, the system's cron "
                f"reads times in {system}: the line is commented out (see --cron-tz)"
            )
        lines.extend(job)
    if not count:
        warnings.append(f"{directory}: no pipeline with a schedule trigger")
        return lines, warnings
    prune_log = shlex.quote(str(home.resolve() / LOGS_DIR / "prune.log"))
    lines += [
        "",
        "# once a day, delete runs older than HOOKLINE_KEEP_DAYS (30) from the run history",
        _cron_text(f"17 4 * * * {command_path('hookline')} runs prune 2>>{prune_log}"),
    ]
    return lines, warnings


def _commented(job: list[str], schedule: Schedule, system: str) -> list[str]:
    why = (
        f"# not active: the schedule is in {schedule.timezone} and Debian's cron reads it in "
        f"{system} (it has no CRON_TZ). Set the schedule's timezone to {system}, run it with "
        "'hookline serve', or use a cron with CRON_TZ (hookline cron --cron-tz)"
    )
    return [*job[:-1], why, "#" + job[-1]]


def handle(args: argparse.Namespace) -> int:
    lines, warnings = crontab(args.directory, cron_tz=args.cron_tz, env_file=args.env_file)
    logs = default_home().resolve() / LOGS_DIR
    try:  # cron's shell cannot append to a file in a directory that does not exist
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        warnings.append(f"cannot create {logs}: {exc.strerror}; create it before cron runs")
    sys.stdout.write("\n".join(lines) + "\n")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
