"""Without the scale extra: the embedded mode works as ever, and a command given a broker or
database URL says in one line what to install (exit 2, no traceback, no password).

Each case runs in a fresh interpreter in which the extra's packages cannot be imported
(``sys.modules[name] = None``: an import raises ModuleNotFoundError and ``find_spec``
finds nothing, as on a machine where they were never installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import ROOT

SCALE_PACKAGES = ("celery", "kombu", "redis", "psycopg", "psycopg_pool")
MESSAGE = "error: distributed mode needs the scale extra: pip install 'hookline[scale]'\n"
PASSWORD = "s3cret-pw-4242"
DATABASE = f"postgresql://hookline:{PASSWORD}@127.0.0.1:9/hookline"
BROKER = f"redis://:{PASSWORD}@127.0.0.1:9/0"
SEED = ROOT / "pipelines" / "reshape-call-fields.yaml"
CALL = ROOT / "pipelines" / "inputs" / "call.json"

_PROBE = textwrap.dedent(
    """
    import sys
    for name in PACKAGES:
        sys.modules[name] = None
    from hookline.cli import main, run_pipeline_main
    entry = main if sys.argv[1] == "hookline" else run_pipeline_main
    sys.argv[0] = sys.argv[1]
    sys.exit(entry(sys.argv[2:]))
    """
).replace("PACKAGES", repr(SCALE_PACKAGES))


def without_extra(
    tmp_path: Path, prog: str, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HOOKLINE_BROKER_URL", "HOOKLINE_DATABASE_URL", "HOOKLINE_REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-c", _PROBE, prog, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clean, "HOOKLINE_HOME": str(tmp_path / "home"), **(env or {})},
    )


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_the_embedded_mode_needs_none_of_the_extra(tmp_path: Path) -> None:
    done = without_extra(tmp_path, "run-pipeline", str(SEED), "--input", f"@{CALL}", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    shown = without_extra(tmp_path, "hookline", "runs")
    assert shown.returncode == 0, shown.stderr
    assert "reshape-call-fields" in shown.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("hookline", "serve", "{dir}", "--broker", BROKER, "--database", DATABASE),
        ("hookline", "worker", "{dir}", "--broker", BROKER, "--database", DATABASE),
        ("run-pipeline", "{dir}/reshape-call-fields.yaml", "--database", DATABASE),
        ("run-pipeline", "{dir}/reshape-call-fields.yaml", "--redis", BROKER),
        ("hookline", "runs", "--database", DATABASE),
        ("hookline", "runs", "show", "0123abcd", "--database", DATABASE),
        ("hookline", "runs", "prune", "--keep-days", "30", "--database", DATABASE),
        ("hookline", "replay", "0123abcd", "--database", DATABASE),
        ("hookline", "state", "show", "reshape-call-fields", "--database", DATABASE),
    ],
    ids=[
        "serve",
        "worker",
        "run-pipeline",
        "run-pipeline-redis",
        "runs",
        "runs-show",
        "runs-prune",
        "replay",
        "state",
    ],
)
def test_a_url_without_the_extra_is_one_line_and_exit_2(
    tmp_path: Path, pipelines: Path, argv: tuple[str, ...]
) -> None:
    prog, *rest = (arg.replace("{dir}", str(pipelines)) for arg in argv)
    done = without_extra(tmp_path, prog, *rest)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", MESSAGE)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (
            ("hookline", "serve", "{dir}"),
            {"HOOKLINE_BROKER_URL": BROKER, "HOOKLINE_DATABASE_URL": DATABASE},
        ),
        (("hookline", "worker", "{dir}"), {"HOOKLINE_BROKER_URL": BROKER}),
        (("hookline", "runs"), {"HOOKLINE_DATABASE_URL": DATABASE}),
    ],
    ids=["serve", "worker", "runs"],
)
def test_a_url_from_the_environment_without_the_extra_is_the_same_line(
    tmp_path: Path, pipelines: Path, argv: tuple[str, ...], env: dict[str, str]
) -> None:
    prog, *rest = (arg.replace("{dir}", str(pipelines)) for arg in argv)
    done = without_extra(tmp_path, prog, *rest, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", MESSAGE)
    assert PASSWORD not in done.stderr


def test_a_process_that_imported_kombu_still_finds_the_extra(cli) -> None:
    # kombu replaces its module on import (no __spec__ after), so a look-up by find_spec
    # fails in a process that imported it: the check must count it as installed.
    import celery
    import kombu

    assert celery and kombu
    shown = cli("runs", "--database", "postgresql://hookline@127.0.0.1:9/hookline")
    assert MESSAGE not in shown.err
    # It went on to connect (nothing listens on port 9): one error line about that.
    assert shown.err.startswith("error: ") and "database" in shown.err, shown.err
    assert shown.err.count("\n") == 1 and shown.code != 0
