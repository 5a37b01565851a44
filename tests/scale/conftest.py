"""Fixtures of the distributed-mode tests: real Redis and PostgreSQL on 127.0.0.1.

- ``redis_server`` (session): this process's ``redis-server``; ``redis_url`` (per test)
  names one of its databases, emptied for the test. A test that stops or restarts a
  server takes a private one from ``make_redis()``, so other tests never see it go.
- ``pg_server`` (session): this process's PostgreSQL cluster; ``pg_url`` (per test) is a
  fresh database on it, dropped after the test. ``make_pg()`` gives a private cluster.
- ``procs``: starts ``hookline serve`` / ``hookline worker`` processes for the test
  (tests/scale/procs.py) and ends every one after it.

Under pytest-xdist each worker process starts its own servers. Every server is stopped
at the end of the session (and dies with the process if the session is killed).

A machine without the servers or the ``scale`` extra skips these tests with the reason;
under CI (which installs them, see .ci/run) that is a failure instead.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from dbservers import INSTALL_HINT, PgServer, RedisServer, pg_bindir, redis_binary
from procs import Procs

CI = bool(os.environ.get("CI"))
SCALE_MODULES = ("celery", "kombu", "redis", "psycopg", "psycopg_pool")


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail under CI, where nothing may be left out."""
    if CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _installed(name: str) -> bool:
    # Already imported: installed. (find_spec would raise here for kombu, whose module
    # replaces itself and has no __spec__ once imported.)
    if name in sys.modules:
        return sys.modules[name] is not None
    return importlib.util.find_spec(name) is not None


def _require_extra() -> None:
    missing = [name for name in SCALE_MODULES if not _installed(name)]
    if missing:
        unavailable(
            f"the scale extra is not installed ({', '.join(missing)} missing): "
            "pip install 'hookline[scale]'"
        )


def _start_redis() -> RedisServer:
    _require_extra()
    binary = redis_binary()
    if binary is None:
        unavailable(f"redis-server not installed: {INSTALL_HINT}")
    server = RedisServer(binary)
    atexit.register(server.close)  # in case the session ends without its teardown
    return server.start()


def _start_pg() -> PgServer:
    _require_extra()
    bindir = pg_bindir()
    if bindir is None:
        unavailable(f"PostgreSQL (initdb, postgres) not installed: {INSTALL_HINT}")
    server = PgServer(bindir)
    atexit.register(server.close)
    return server.start()


# ---------------------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis (``.url``, ``.port``, ``.url_for(db)``). Do not stop it: use
    ``make_redis()`` for a server a test stops or restarts."""
    server = _start_redis()
    try:
        yield server
    finally:
        server.close()


_databases = itertools.cycle(range(1, RedisServer.DATABASES))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/N``: a database of the session's Redis, empty. Numbers
    rotate (0 is left alone), so a process a test left behind never writes into the
    next test's database."""
    db = next(_databases)
    redis_server.start()  # a test that stopped the shared server by mistake
    redis_server.flush(db)
    return redis_server.url_for(db)


@pytest.fixture
def make_redis() -> Iterator[Callable[[], RedisServer]]:
    """``make_redis()`` starts a private Redis for this test (stop, kill, restart it at
    will); every one is closed after the test."""
    made: list[RedisServer] = []

    def make() -> RedisServer:
        server = _start_redis()
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.close()


# ------------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL (``.url`` is its ``postgres`` database, superuser, no
    password). Do not stop it: use ``make_pg()`` for one a test stops."""
    server = _start_pg()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/t_<hex>``: a new, empty database."""
    pg_server.start()
    name = pg_server.create_database()
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def make_pg() -> Iterator[Callable[[], PgServer]]:
    """``make_pg()`` starts a private PostgreSQL cluster for this test (stop, kill,
    restart it at will; its ``url`` is the ``postgres`` database); closed after the test."""
    made: list[PgServer] = []

    def make() -> PgServer:
        server = _start_pg()
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.close()


# ------------------------------------------------------------------------- processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """``procs.serve(DIR, ...)`` / ``procs.worker(DIR, ...)``: processes on free ports,
    healthy when returned, their output under tmp_path; all ended after the test."""
    group = Procs(tmp_path / "procs")
    try:
        yield group
    finally:
        group.close()
