"""PostgreSQL for the distributed mode: connections, a small pool, and the migrations.

The API the other modules use:

- ``connect(url)``: one ``psycopg.Connection`` (not autocommit), with the timeouts below.
- ``make_pool(url, max_size=POOL_MAX, durability="power")``: a
  ``psycopg_pool.ConnectionPool`` (min 1 connection), opened and checked
  (``PgUnavailable`` when the server cannot be reached within ``CONNECT_TIMEOUT``).
  ``durability="process"`` turns PostgreSQL's ``synchronous_commit`` off on the pool's
  sessions (the worker's run records, see below). ``with pool.connection() as conn:``
  commits on success and rolls back on an exception.
- ``migrate(url_or_conn)``: bring the database to this code's schema. Every process
  calls it at start; it is idempotent and safe when several processes start at once.
- ``PgUnavailable`` (a ``HooklineError``: one line, no traceback) for a server that
  cannot be reached, a URL it refuses, or a schema newer than this code (``NewerSchema``).

Migrations are versioned SQL files, ``migrations/NNNN_name.sql`` beside this module,
applied in order of their number, each once, each in its own transaction, under a
transaction-level advisory lock (``pg_advisory_xact_lock``), and recorded in
``hookline_migrations (version, name, applied_at)``. The numbers are the components':
0001 history, 0002 state, 0003 deliveries, 0004 checkpoints, 0005 schedule marks and
poll baselines. A database that has a version this code does not know was migrated by
a newer hookline: every process refuses it (an old worker must not write a new schema).

Durability, as the embedded mode's ``--durability``: a commit that promises something to
a sender (serve's intake, behind the 2xx) always waits for PostgreSQL's WAL flush
(``power``: ``synchronous_commit`` on). A worker's run records (claims, history,
checkpoints, final records, state, outcomes) follow the worker's ``--durability``:
``process`` (the default) commits without waiting for the flush: every commit survives a
crash of any hookline process (the server has it), and a crash of the PostgreSQL server
itself can lose its last fraction of a second of them (``wal_writer_delay``), the window
a power loss gives the embedded mode's ``synchronous=NORMAL``. Nothing is corrupted: the
server recovers to a consistent earlier moment, whose rows make the runs of that moment
go again from the checkpoints it kept (a step sent in that window may be sent again).

Error texts never hold the URL's password: they name the server by ``masked(url)``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .._errors import HooklineError
from ._config import masked

__all__ = [
    "CONNECT_TIMEOUT",
    "POOL_MAX",
    "Migration",
    "NewerSchema",
    "PgUnavailable",
    "connect",
    "make_pool",
    "migrate",
    "migrations",
    "pool_where",
    "single",
]

#: Seconds to open a connection to PostgreSQL before giving up.
CONNECT_TIMEOUT = 10.0
#: Connections a process's pool holds at most (HOOKLINE_DATABASE_POOL, or the caller's).
POOL_MAX = 8
#: Seconds a statement may run before the server cancels it (a lock wait included).
STATEMENT_TIMEOUT = 30.0

# Any 64-bit number of our own: every process migrating takes this lock.
_MIGRATION_LOCK = 0x686F6F6B6C696E65  # "hookline"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

_TABLE = """
CREATE TABLE IF NOT EXISTS hookline_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class PgUnavailable(HooklineError):
    """PostgreSQL cannot be used: unreachable, refused, or migrated by a newer hookline."""


class NewerSchema(PgUnavailable):
    """The database holds a migration this code does not know."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migrations shipped with this code, in order of their number."""
    found = []
    for entry in (resources.files(__package__ or "hookline.scale") / "migrations").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def _options(durability: str = "power") -> dict[str, Any]:
    options = f"-c statement_timeout={int(STATEMENT_TIMEOUT * 1000)}"
    if durability == "process":  # see the module docstring: a server crash's window only
        options += " -c synchronous_commit=off"
    return {
        "connect_timeout": max(1, round(CONNECT_TIMEOUT)),
        "application_name": "hookline",
        "options": options,
    }


def describe(exc: BaseException) -> str:
    """A driver error in one line (psycopg's messages may span several)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def connect(url: str) -> psycopg.Connection[Any]:
    """One connection; PgUnavailable when it cannot be opened."""
    try:
        return psycopg.connect(url, **_options())
    except psycopg.Error as exc:
        raise PgUnavailable(
            f"cannot connect to the database {masked(url)}: {describe(exc)}"
        ) from None


def make_pool(
    url: str, *, max_size: int = POOL_MAX, name: str = "hookline", durability: str = "power"
) -> ConnectionPool:
    """A pool of 1 to ``max_size`` connections, opened; PgUnavailable when the server
    cannot be reached within CONNECT_TIMEOUT. ``durability``: ``power`` (every commit
    waits for the server's WAL flush) or ``process`` (see the module docstring)."""
    if durability not in ("power", "process"):
        raise ValueError(f"durability {durability!r}: expected 'process' or 'power'")
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max(1, max_size),
        kwargs=_options(durability),
        name=name,
        open=False,
        timeout=CONNECT_TIMEOUT + STATEMENT_TIMEOUT,
        reconnect_timeout=CONNECT_TIMEOUT * 6,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    except PoolTimeout:
        reason = _why_not(url)
        pool.close()
        raise PgUnavailable(f"cannot connect to the database {masked(url)}: {reason}") from None
    return pool


def pool_where(pool: ConnectionPool) -> str:
    """The database of ``pool``, for messages (no password)."""
    info = pool.conninfo
    return masked(info) if isinstance(info, str) else "the database"


@contextlib.contextmanager
def single(pool: ConnectionPool, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in autocommit mode, for one statement that is its own
    transaction: one round trip instead of three (BEGIN, the statement, COMMIT). The
    connection goes back to the pool as it came (not autocommit). ``timeout``: seconds to
    wait for a connection (None: the pool's own wait)."""
    with pool.connection(timeout=timeout) as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.autocommit = False


def _why_not(url: str) -> str:
    """What a direct connection says (the pool only says it timed out)."""
    try:
        psycopg.connect(url, **_options()).close()
    except psycopg.Error as exc:
        return describe(exc)
    return f"no connection within {CONNECT_TIMEOUT:g}s"


def migrate(target: str | psycopg.Connection[Any]) -> list[int]:
    """Apply the migrations the database lacks; the versions applied (empty: current).

    Safe under concurrent starts: each migration runs in one transaction that first takes
    the advisory lock, then checks again whether it is still missing."""
    conn = connect(target) if isinstance(target, str) else target
    where = masked(target) if isinstance(target, str) else "the database"
    try:
        return _migrate(conn)
    except psycopg.Error as exc:
        conn.rollback()
        raise PgUnavailable(f"cannot migrate {where}: {describe(exc)}") from None
    finally:
        if isinstance(target, str):
            conn.close()


def _migrate(conn: psycopg.Connection[Any]) -> list[int]:
    shipped = migrations()
    if not shipped:  # a package built without its SQL files: nothing could be created
        raise PgUnavailable(
            "this installation of hookline lacks its database migrations "
            "(hookline/scale/migrations/*.sql): reinstall hookline[scale]"
        )
    known = {m.version for m in shipped}
    applied: list[int] = []
    if conn.autocommit:  # each migration needs its own transaction
        raise ValueError("migrate() needs a connection that is not in autocommit mode")
    conn.rollback()  # start clean: the caller may have left a transaction open
    # Fast path, no lock: a current database costs one query.
    done = _applied(conn)
    conn.commit()
    _refuse_newer(done, known)
    if known <= done:
        return applied
    for migration in shipped:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            done = _applied(conn)
            _refuse_newer(done, known)
            if migration.version in done:
                continue
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO hookline_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
    return applied


def _applied(conn: psycopg.Connection[Any]) -> set[int]:
    exists = conn.execute("SELECT to_regclass('hookline_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        # Two processes may both create it: the advisory lock orders them.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(_TABLE)
    return {row[0] for row in conn.execute("SELECT version FROM hookline_migrations")}


def _refuse_newer(done: set[int], known: set[int]) -> None:
    newer = sorted(done - known)
    if newer and newer[-1] > max(known, default=0):
        raise NewerSchema(
            f"the database was migrated by a newer hookline (schema version {newer[-1]}, "
            f"this one knows up to {max(known, default=0)}): upgrade hookline on this machine"
        )
