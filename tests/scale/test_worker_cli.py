"""``hookline worker`` refuses what it cannot run, in one clear message each: an invalid
pipeline directory (the same messages as ``serve``), servers not given, the scale extra
not installed. These need no server: the worker checks all of it before connecting."""

from __future__ import annotations

import os
from pathlib import Path

from worker_support import hookline, pipeline, write

# Servers nobody listens on: the worker must refuse before it tries them.
NOWHERE = {
    "HOOKLINE_BROKER_URL": "redis://127.0.0.1:9/0",
    "HOOKLINE_DATABASE_URL": "postgresql://hookline:s3cret-pw@127.0.0.1:9/hookline",
}


def env(**more: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return {**clean, "HOOKLINE_LOG_TIME": "never", **more}


def test_an_invalid_directory_gets_the_same_messages_as_serve_and_exit_2(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "pipelines",
        good=pipeline("good", "  - id: a\n    set: {x: 1}\n"),
        bad=pipeline("bad", "  - id: a\n    rest: {method: PUTT, url: http://127.0.0.1:9/}\n"),
        twin=pipeline("good", "  - id: a\n    set: {x: 1}\n"),
    )
    home = {"HOOKLINE_HOME": str(tmp_path / "home")}
    served = hookline("serve", str(folder), env=env(**home))
    worked = hookline("worker", str(folder), env=env(**home, **NOWHERE))
    assert served.returncode == 2
    assert (worked.returncode, worked.stderr, worked.stdout) == (2, served.stderr, "")
    lines = worked.stderr.splitlines()
    assert (
        lines[-1]
        == "not started: 2 problems in 2 files (--skip-invalid starts with the valid ones)"
    )
    assert any("steps[0].rest.method: 'PUTT' (a string) is not one of" in line for line in lines)
    assert any("the name 'good' is taken by" in line for line in lines)
    assert "s3cret-pw" not in worked.stderr


def test_servers_not_given_are_named_exit_2(tmp_path: Path) -> None:
    folder = write(tmp_path / "pipelines", good=pipeline("good", "  - id: a\n    set: {x: 1}\n"))
    done = hookline("worker", str(folder), env=env())
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: hookline worker in distributed mode needs --broker (or HOOKLINE_BROKER_URL), "
        "--database (or HOOKLINE_DATABASE_URL), --redis (or HOOKLINE_REDIS_URL)\n"
    )
    # An AMQP broker is no coordination Redis: --redis must be given with it.
    done = hookline(
        "worker", str(folder), "--broker", "amqp://guest@127.0.0.1:9//", env=env(**NOWHERE)
    )
    assert (done.returncode, done.stderr) == (
        2,
        "error: hookline worker in distributed mode needs --redis (or HOOKLINE_REDIS_URL; "
        "needed when the broker is not Redis)\n",
    )


def test_without_the_scale_extra_one_line_says_what_to_install(tmp_path: Path) -> None:
    folder = write(tmp_path / "pipelines", good=pipeline("good", "  - id: a\n    set: {x: 1}\n"))
    # celery absent from this process: the import system finds no such module.
    done = hookline(
        "worker",
        str(folder),
        env=env(**NOWHERE),
        prelude="import sys; sys.modules['celery'] = None",
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: distributed mode needs the scale extra: pip install 'hookline[scale]'\n"
    )


def test_a_bad_lease_setting_is_refused_before_anything_starts(tmp_path: Path) -> None:
    folder = write(tmp_path / "pipelines", good=pipeline("good", "  - id: a\n    set: {x: 1}\n"))
    done = hookline("worker", str(folder), env=env(**NOWHERE, HOOKLINE_LEASE_SECONDS="0.5"))
    assert (done.returncode, done.stderr) == (
        2,
        "error: HOOKLINE_LEASE_SECONDS='0.5': expected seconds from 1 to 3600\n",
    )
