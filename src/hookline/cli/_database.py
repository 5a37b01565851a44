"""``--database URL`` (and ``run-pipeline``'s ``--redis URL``): the commands that read or
write the run history and state against PostgreSQL instead of the home's SQLite file.

Options beat the environment (``HOOKLINE_DATABASE_URL``, ``HOOKLINE_REDIS_URL``); an
explicit ``--db PATH`` beats the environment's database too, and ``--db`` with
``--database`` is a usage error. Nothing of ``hookline.scale`` (nor psycopg) is imported
unless a URL is given: the embedded commands load none of it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from .._errors import UsageError

__all__ = ["DATABASE_HELP", "REDIS_HELP", "add_database", "database_url", "redis_url"]

DATABASE_ENV = "HOOKLINE_DATABASE_URL"
REDIS_ENV = "HOOKLINE_REDIS_URL"

DATABASE_HELP = (
    "PostgreSQL of the distributed mode, postgresql://USER@HOST:PORT/DATABASE (default "
    f"${DATABASE_ENV}): the run history and state live there instead of in --db "
    "(docs/deploy.md)"
)
REDIS_HELP = (
    f"Redis of the distributed mode, redis://HOST:PORT/DB (default ${REDIS_ENV}): the "
    "pipeline's run lock and concurrency slots become leases there, shared by every machine"
)


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", metavar="URL", help=DATABASE_HELP)


def _given(args: argparse.Namespace, attr: str, env: str, environ: Mapping[str, str]) -> str:
    return (getattr(args, attr, None) or environ.get(env, "")).strip()


def database_url(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL URL the command uses, checked; None: the embedded SQLite history.
    UsageError (exit 2) for a URL of the wrong kind, ``--db`` with ``--database``, or
    the scale extra missing."""
    environ = os.environ if environ is None else environ
    option = (getattr(args, "database", None) or "").strip()
    if option and getattr(args, "db", None):
        raise UsageError("give --db PATH (SQLite) or --database URL (PostgreSQL), not both")
    if not option and getattr(args, "db", None):
        return None  # an explicit --db beats the environment's database
    url = _given(args, "database", DATABASE_ENV, environ)
    if not url:
        return None
    from ..scale import require_extra
    from ..scale._config import ScaleConfig

    require_extra()
    only = argparse.Namespace(database=url)
    return ScaleConfig.from_args_env(only, {}).database


def redis_url(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str | None:
    """The coordination Redis ``run-pipeline`` uses, checked; None: this machine's locks."""
    environ = os.environ if environ is None else environ
    url = _given(args, "redis", REDIS_ENV, environ)
    if not url:
        return None
    from ..scale import require_extra
    from ..scale._config import ScaleConfig

    require_extra()
    return ScaleConfig.from_args_env(argparse.Namespace(redis=url), {}).redis
