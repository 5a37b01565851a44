"""Where the distributed mode's servers are: the broker, the database and Redis.

Options beat the environment:

    --broker URL    HOOKLINE_BROKER_URL    Celery's broker: redis://... or amqp://...
    --database URL  HOOKLINE_DATABASE_URL  PostgreSQL: history, state, deliveries, ...
    --redis URL     HOOKLINE_REDIS_URL     leases, the leader, the shared rate limit;
                                           default: the broker's URL when it is Redis

A URL may hold a password (in its userinfo, or as ``?password=``): print it only
through ``masked``; a log redactor learns ``passwords(url)``. A broker URL with a
password in its query is refused: Celery's Redis transport passes the query on as
arguments of its own and fails on it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .._errors import UsageError
from .._urlsecrets import masked, passwords, query_secrets

__all__ = [
    "BROKER_SCHEMES",
    "DATABASE_SCHEMES",
    "REDIS_SCHEMES",
    "ScaleConfig",
    "masked",
    "passwords",
]

BROKER_ENV = "HOOKLINE_BROKER_URL"
DATABASE_ENV = "HOOKLINE_DATABASE_URL"
REDIS_ENV = "HOOKLINE_REDIS_URL"

REDIS_SCHEMES = ("redis", "rediss")
BROKER_SCHEMES = (*REDIS_SCHEMES, "amqp", "amqps", "pyamqp")
DATABASE_SCHEMES = ("postgresql", "postgres")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _check(name: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    if "://" not in url:  # a keyword string, a bare password pasted in the wrong place
        raise UsageError(
            f"{name} is not a URL hookline can use (no scheme://; the value is not shown, "
            f"it may hold a password): give {example}"
        )
    scheme = _scheme(url)
    if scheme not in schemes:
        raise UsageError(f"{name} {masked(url)!r} is not a URL hookline can use: give {example}")


def _check_broker(url: str) -> None:
    """A password in the broker URL's query: Celery's Redis transport merges the query
    into its own arguments and fails (``got multiple values for keyword argument
    'password'``); refused here in one line, before anything starts."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return  # the transport says what is wrong with it
    if query_secrets(query):
        where = (
            "amqp://USER:PASSWORD@HOST/"
            if _scheme(url).startswith(("amqp", "pyamqp"))
            else "redis://:PASSWORD@HOST:PORT/DB"
        )
        raise UsageError(
            f"--broker {masked(url)!r}: give the broker's password in the URL's user "
            f"part, {where}, not as a query parameter"
        )


@dataclass(frozen=True)
class ScaleConfig:
    """The URLs of the distributed mode; None where not configured."""

    # repr=False: a config printed in a traceback or a debugger must not show passwords
    broker: str | None = field(default=None, repr=False)
    database: str | None = field(default=None, repr=False)
    redis: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"ScaleConfig({self.describe()})"

    @classmethod
    def from_args_env(
        cls, args: argparse.Namespace | Any, environ: Mapping[str, str]
    ) -> ScaleConfig:
        """From the options ``--broker``, ``--database``, ``--redis`` (a command without
        one of them has no such attribute) or else the environment; UsageError (exit 2)
        for a URL of the wrong kind. Redis defaults to a Redis broker's URL."""

        def pick(attr: str, env: str) -> str | None:
            value = getattr(args, attr, None) or environ.get(env, "")
            return value.strip() or None

        broker = pick("broker", BROKER_ENV)
        database = pick("database", DATABASE_ENV)
        redis = pick("redis", REDIS_ENV)
        if broker is not None:
            _check("--broker", broker, BROKER_SCHEMES, "redis://HOST:PORT/DB or amqp://HOST/")
            _check_broker(broker)
        if database is not None:
            _check("--database", database, DATABASE_SCHEMES, "postgresql://USER@HOST:PORT/DATABASE")
        if redis is not None:
            _check("--redis", redis, REDIS_SCHEMES, "redis://HOST:PORT/DB")
        elif broker is not None and _scheme(broker) in REDIS_SCHEMES:
            redis = broker
        return cls(broker, database, redis)

    @property
    def distributed(self) -> bool:
        """Any server configured: the command runs in distributed mode."""
        return bool(self.broker or self.database or self.redis)

    def require(self, command: str, *, broker: bool, database: bool, redis: bool) -> None:
        """UsageError naming every URL ``command`` needs and was not given."""
        missing = []
        if broker and not self.broker:
            missing.append(f"--broker (or {BROKER_ENV})")
        if database and not self.database:
            missing.append(f"--database (or {DATABASE_ENV})")
        if redis and not self.redis:
            missing.append(
                f"--redis (or {REDIS_ENV}; needed when the broker is not Redis)"
                if self.broker
                else f"--redis (or {REDIS_ENV})"
            )
        if missing:
            raise UsageError(f"{command} in distributed mode needs {', '.join(missing)}")

    def describe(self) -> str:
        """One line for the log, passwords masked."""
        shown = [
            f"{name} {masked(url)}"
            for name, url in (
                ("broker", self.broker),
                ("database", self.database),
                ("redis", self.redis),
            )
            if url
        ]
        return ", ".join(shown) or "embedded"
