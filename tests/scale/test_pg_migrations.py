"""The PostgreSQL schema's migrations: each runs once, in order, also when several
processes start at once; a database migrated by a newer hookline is refused."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg
import pytest

from hookline.scale._pg import NewerSchema, migrate, migrations

MIGRATE = """\
import sys
from hookline.scale._pg import migrate
print(",".join(map(str, migrate(sys.argv[1]))))
"""


def test_the_reserved_numbers_are_the_components_own() -> None:
    shipped = {m.version: m.name for m in migrations()}
    assert {k: v for k, v in shipped.items() if k in (1, 2, 4)} == {
        1: "history",
        2: "state",
        4: "checkpoints",
    }
    assert list(shipped) == sorted(shipped)


def test_migrations_run_once_under_concurrent_starts(pg_url: str) -> None:
    # Six processes migrate one empty database at the same instant.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, [err for _, err in outs]
    applied = [out.strip() for out, _ in outs]
    versions = [m.version for m in migrations()]
    # Every migration was applied by exactly one of them.
    done = sorted(int(v) for text in applied if text for v in text.split(","))
    assert done == versions
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, name FROM hookline_migrations ORDER BY 1").fetchall()
    assert rows == [(m.version, m.name) for m in migrations()]
    assert migrate(pg_url) == []  # and again: nothing to do


def test_threads_migrating_at_once_each_see_a_whole_schema(pg_url: str) -> None:
    ready = threading.Barrier(4, timeout=60)  # a failed peer breaks it, not hangs it
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(pg_url, connect_timeout=30) as conn:
                ready.wait()
                migrate(conn)
                conn.execute("SELECT count(*) FROM runs, pipeline_state, checkpoints")
        except BaseException as exc:
            errors.append(exc)
            ready.abort()  # the others stop waiting for this one

    threads = [threading.Thread(target=start, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a migrating thread hangs"
    assert errors == []


def test_a_database_from_a_newer_hookline_is_refused(pg_url: str, cli, tmp_path) -> None:
    migrate(pg_url)
    newest = max(m.version for m in migrations())
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO hookline_migrations (version, name) VALUES (%s, 'from_the_future')",
            (newest + 1,),
        )
        conn.execute("CREATE TABLE from_the_future (x int)")
    message = (
        f"the database was migrated by a newer hookline (schema version {newest + 1}, this "
        f"one knows up to {newest}): upgrade hookline on this machine"
    )
    with pytest.raises(NewerSchema) as caught:
        migrate(pg_url)
    assert str(caught.value) == message

    # A run keeps no history there (one warning) and writes nothing into it.
    path = tmp_path / "p.yaml"
    path.write_text(
        'version: 1\nname: plain\nsteps:\n  - id: a\n    set: 1\noutput: "${{ steps.a }}"\n'
    )
    ran = cli("run", str(path), "--database", pg_url)
    assert ran.code == 0 and ran.out == "1\n"
    assert ran.err.splitlines()[0] == (
        f"warning: run history off: {message}; the run goes on and its output is not affected"
    )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)

    # A state change by hand is refused, exit 1, one line.
    done = cli("state", "set", "plain", "k", "1", "--database", pg_url)
    assert (done.code, done.out, done.err) == (1, "", f"error: {message}\n")
