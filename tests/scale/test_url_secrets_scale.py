"""A server's password given where libpq and redis-py also take one (``?password=``, a
keyword string) never reaches serve's, the worker's or the CLI's output; a broker URL
with its password in the query is refused in one line (it ended the worker with an
internal error); ``state`` takes ``--database`` before its subcommand."""

from __future__ import annotations

import json
import os
from pathlib import Path

from procs import Procs
from worker_support import hookline, pipeline, write

SECRET = "pgq-SECRET-11"


def _folder(tmp_path: Path) -> Path:
    return write(tmp_path / "pipelines", orders=pipeline("orders", "  - id: a\n    set: {x: 1}\n"))


def _shown(url: str) -> str:
    """The test database's URL as hookline shows it: a lone user is hidden as well."""
    return url.replace("://postgres@", "://***@")


def test_a_database_password_in_the_query_is_masked_in_the_start_lines(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    # The test PostgreSQL trusts every login: the password is taken and not needed.
    database = f"{pg_url}?password={SECRET}"
    urls = {"HOOKLINE_BROKER_URL": redis_url, "HOOKLINE_DATABASE_URL": database}
    folder = _folder(tmp_path)
    # A run's log quotes the password: the worker's redactor learnt it from the URL.
    (folder / "echo.yaml").write_text(
        pipeline("echo", '  - id: a\n    fail: "said ${{ input.word }}"\n'), encoding="utf-8"
    )
    with Procs(tmp_path, env=urls) as procs:
        worker = procs.worker(folder)
        front = procs.serve(folder)
        assert front.post("/hooks/echo", {"word": SECRET}).status == 202
        worker.wait_for(r"a: failed - said \*\*\*")
        assert worker.terminate() == 0
        assert front.terminate() == 0
        shown = f"database {_shown(pg_url)}?password=***"
        started = [line for line in worker.output.splitlines() if "working on" in line]
        serving = [line for line in front.output.splitlines() if "serving" in line]
        assert len(started) == 1 and shown in started[0], worker.output
        assert len(serving) == 1 and shown in serving[0], front.output
        assert SECRET not in worker.output + front.output


def test_a_broker_password_in_the_query_stops_the_worker_in_one_line(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    done = hookline(
        "worker",
        str(_folder(tmp_path)),
        "--admin-port",
        "0",
        env={
            **env,
            "HOOKLINE_HOME": str(tmp_path / "home"),
            "HOOKLINE_BROKER_URL": f"{redis_url}?password=rq-SECRET-22",
            "HOOKLINE_DATABASE_URL": pg_url,
        },
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"error: --broker '{redis_url}?password=***': give the broker's password in the "
        "URL's user part, redis://:PASSWORD@HOST:PORT/DB, not as a query parameter\n",
    )


def test_state_takes_the_database_before_its_subcommand(cli, pg_url: str) -> None:
    database = f"{pg_url}?password={SECRET}"
    put = cli("state", "--database", database, "set", "orders", "since", '"2024-05-01"')
    assert (put.code, put.err) == (0, "state of orders: version 1\n")
    before = cli("state", "--database", database, "show", "orders")
    after = cli("state", "show", "orders", "--database", database)
    assert before.code == after.code == 0
    assert before.out == after.out
    assert json.loads(before.out)["state"] == {"since": "2024-05-01"}
    missing = cli("state", "--database", database, "show", "nobody")
    assert missing.err == (
        f"no state saved for pipeline 'nobody' in {_shown(pg_url)}?password=***\n"
    )
    assert SECRET not in put.err + before.err + after.err + missing.err
