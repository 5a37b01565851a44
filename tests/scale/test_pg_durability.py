"""Durability in PostgreSQL, as the embedded mode's ``--durability``: serve's intake (and
every pool by default) waits for the server's disk flush at each commit; a worker's pool
with ``process`` (its default) does not (``synchronous_commit`` off), with ``power``
it does. A durability that is neither is refused in one line, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from worker_support import hookline, pipeline, write

from hookline.scale._pg import make_pool, single


def _setting(pg_url: str, **kwargs: str) -> list[str]:
    """synchronous_commit as three connections of one pool see it (one in autocommit)."""
    pool = make_pool(pg_url, max_size=3, **kwargs)
    try:
        seen = []
        with pool.connection() as a, pool.connection() as b:
            for conn in (a, b):
                row = conn.execute("SHOW synchronous_commit").fetchone()
                seen.append(row[0] if row else "")
        with single(pool) as conn:
            row = conn.execute("SHOW synchronous_commit").fetchone()
            seen.append(row[0] if row else "")
        return seen
    finally:
        pool.close()


def test_a_pool_waits_for_the_flush_unless_told_process(pg_url: str) -> None:
    assert _setting(pg_url) == ["on", "on", "on"]  # serve's intake, run-pipeline, replay
    assert _setting(pg_url, durability="power") == ["on", "on", "on"]
    assert _setting(pg_url, durability="process") == ["off", "off", "off"]


def test_a_durability_that_is_neither_is_refused(pg_url: str) -> None:
    with pytest.raises(ValueError, match="durability 'fast': expected 'process' or 'power'"):
        make_pool(pg_url, durability="fast")


def _env(**more: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    nowhere = {
        "HOOKLINE_BROKER_URL": "redis://127.0.0.1:9/0",
        "HOOKLINE_DATABASE_URL": "postgresql://hookline:s3cret-pw@127.0.0.1:9/hookline",
    }
    return {**clean, "HOOKLINE_LOG_TIME": "never", **nowhere, **more}


def test_the_worker_refuses_an_unknown_durability_in_one_line(tmp_path: Path) -> None:
    folder = write(tmp_path / "pipelines", good=pipeline("good", "  - id: a\n    set: {x: 1}\n"))
    home = str(tmp_path / "home")
    done = hookline("worker", str(folder), env=_env(HOOKLINE_DURABILITY="fast", HOOKLINE_HOME=home))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: durability 'fast': expected 'process' (survives a crash of hookline, the "
        "default) or 'power' (survives a power loss too; slower)\n"
    )
    done = hookline("worker", str(folder), "--durability", "fast", env=_env(HOOKLINE_HOME=home))
    assert done.returncode == 2
    assert "argument --durability: invalid choice: 'fast'" in done.stderr
    assert "s3cret-pw" not in done.stderr
