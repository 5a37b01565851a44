"""``hookline serve`` given distributed-mode URLs that cannot work: one line saying what
is wrong, exit 2 for a usage mistake, exit 1 for a server that cannot be reached, never
a traceback, never a password."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_support import ENTRY, SECRET, hook


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "orders.yaml").write_text(hook("orders", "/hooks/orders"), encoding="utf-8")
    return folder


def serve(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            "serve",
            str(folder),
            "--port",
            "0",
            "--admin-port",
            "0",
            *args,
        ],
        env={
            **clean,
            "HOOKLINE_HOME": str(folder.parent / "home"),
            "HOOK_SECRET": SECRET,
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_broker_without_a_database_says_what_is_missing(pipelines: Path) -> None:
    code, out = serve(pipelines, "--broker", "redis://:hunter2@127.0.0.1:1/0")
    assert (code, out) == (
        2,
        "error: hookline serve in distributed mode needs --database (or HOOKLINE_DATABASE_URL)\n",
    )


def test_an_amqp_broker_needs_a_redis_for_coordination(pipelines: Path) -> None:
    code, out = serve(
        pipelines,
        env={
            "HOOKLINE_BROKER_URL": "amqp://guest:hunter2@127.0.0.1:1//",
            "HOOKLINE_DATABASE_URL": "postgresql://hookline:hunter2@127.0.0.1:1/hooks",
        },
    )
    assert (code, out) == (
        2,
        "error: hookline serve in distributed mode needs --redis (or HOOKLINE_REDIS_URL; "
        "needed when the broker is not Redis)\n",
    )


def test_a_url_of_the_wrong_kind_is_named_with_its_password_masked(pipelines: Path) -> None:
    code, out = serve(
        pipelines,
        "--broker",
        "redis://127.0.0.1:1/0",
        "--database",
        "mysql://app:hunter2@db.internal/hooks",
    )
    assert (code, out) == (
        2,
        "error: --database 'mysql://app:***@db.internal/hooks' is not a URL hookline can "
        "use: give postgresql://USER@HOST:PORT/DATABASE\n",
    )


def test_an_option_beats_the_environment(pipelines: Path) -> None:
    # The environment's broker is of the wrong kind; the option's is used instead.
    code, out = serve(
        pipelines,
        "--broker",
        "redis://127.0.0.1:1/0",
        env={"HOOKLINE_BROKER_URL": "kafka://127.0.0.1:1"},
    )
    assert (code, out) == (
        2,
        "error: hookline serve in distributed mode needs --database (or HOOKLINE_DATABASE_URL)\n",
    )


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port bound but never listening: connections are refused, and no other test's
    server can take it meanwhile (a port only chosen as free could be)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_a_database_that_cannot_be_reached_is_one_error_line_and_exit_1(
    pipelines: Path,
) -> None:
    with refused_port() as port:  # refused, and nobody else's
        code, out = serve(
            pipelines,
            "--broker",
            f"redis://127.0.0.1:{port}/0",
            "--database",
            f"postgresql://app:hunter2@127.0.0.1:{port}/hooks",
        )
    assert code == 1, out
    assert len(out.splitlines()) == 1, out  # no raw lines of the driver's pool before it
    assert out.startswith(
        f"error: cannot connect to the database postgresql://app:***@127.0.0.1:{port}/hooks: "
    )
    assert "hunter2" not in out
    assert "Traceback" not in out


def test_a_broker_password_in_the_query_is_refused_in_one_line(pipelines: Path) -> None:
    # Celery's Redis transport passes the query on as arguments of its own: the worker
    # ended with an internal error (exit 3). Refused before anything starts, masked.
    code, out = serve(
        pipelines,
        "--broker",
        "redis://127.0.0.1:1/1?password=rq-SECRET-22",
        "--database",
        "postgresql://app@127.0.0.1:1/hooks",
    )
    assert (code, out) == (
        2,
        "error: --broker 'redis://127.0.0.1:1/1?password=***': give the broker's password "
        "in the URL's user part, redis://:PASSWORD@HOST:PORT/DB, not as a query parameter\n",
    )


def test_a_keyword_connection_string_is_refused_without_being_quoted(pipelines: Path) -> None:
    code, out = serve(
        pipelines,
        "--broker",
        "redis://127.0.0.1:1/0",
        env={"HOOKLINE_DATABASE_URL": "host=127.0.0.1 port=1 password=pgpw-51z"},
    )
    assert (code, out) == (
        2,
        "error: --database is not a URL hookline can use (no scheme://; the value is not "
        "shown, it may hold a password): give postgresql://USER@HOST:PORT/DATABASE\n",
    )


def test_a_database_password_in_the_query_is_masked_in_the_connection_error(
    pipelines: Path,
) -> None:
    with refused_port() as port:  # refused, and nobody else's
        code, out = serve(
            pipelines,
            "--broker",
            f"redis://127.0.0.1:{port}/0",
            "--database",
            f"postgresql://127.0.0.1:{port}/hooks?sslmode=disable&password=pgq-SECRET-11",
        )
    assert code == 1, out
    assert out.startswith(
        f"error: cannot connect to the database postgresql://127.0.0.1:{port}/hooks"
        "?sslmode=disable&password=***: "
    ), out
    assert "SECRET" not in out
