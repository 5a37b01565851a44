"""``hookline state show|set|clear PIPELINE``: read a pipeline's stored state, or fix it
by hand (a watermark that went wrong, a sync to start over)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._errors import HooklineError, UsageError
from .._home import default_db
from .._jsonsafe import UntrustedJSONError, loads
from .._state import StateStore, peek
from ._database import add_database, database_url

T = TypeVar("T")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DESCRIPTION = (
    "Show or change the state a pipeline keeps between runs (its save_state values). "
    "'set' and 'clear' make a new version: a run that read the state before and changes "
    "the same keys then fails with a state conflict, so the change made here wins."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "state", help="show or change a pipeline's stored state", description=DESCRIPTION
    )
    # Before the subcommand too (``state --database URL show NAME``), as ``runs`` takes
    # them: otherwise argparse takes the URL for the subcommand's name and quotes it,
    # password and all, in its "invalid choice" error.
    p.add_argument("--db", metavar="PATH", help="run history database (where state lives)")
    add_database(p)
    inner = p.add_subparsers(dest="state_command", metavar="show|set|clear")
    inner.required = True
    show = inner.add_parser(
        "show", help="print the pipeline's state as JSON, with its last changes"
    )
    show.add_argument("pipeline", metavar="PIPELINE", help="the pipeline's name")
    put = inner.add_parser("set", help="set one key (the value null removes it)")
    put.add_argument("pipeline", metavar="PIPELINE", help="the pipeline's name")
    put.add_argument("key", metavar="KEY", help="the state value's name")
    put.add_argument("value", metavar="JSON", help='a JSON value: 42, "2024-05-01T00:00:00Z", null')
    clear = inner.add_parser("clear", help="remove every key: the next run starts from {}")
    clear.add_argument("pipeline", metavar="PIPELINE", help="the pipeline's name")
    for each in (show, put, clear):
        each.add_argument("--db", metavar="PATH", help="run history database (where state lives)")
        add_database(each)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    name = args.pipeline
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a pipeline name (letters, digits, '_', '.', '-')")
    database = database_url(args)
    path = Path(args.db) if args.db else default_db()
    if args.state_command == "show":
        if database is not None:
            from ..scale._config import masked

            found = _pg(database, lambda conn, pg: pg.peek(conn, name))
            return _show(found, name, masked(database))
        return _show(peek(path, pipeline=name), name, str(path))
    if args.state_command == "clear":

        def change(current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            return {}, {key: None for key in current}

    else:
        key, value = args.key, _value(args.value)
        if not _KEY.fullmatch(key):
            raise UsageError(f"{key!r} is not a state key (letters, digits and '_')")

        def change(current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            new = {k: v for k, v in {**current, key: value}.items() if v is not None}
            return new, {key: value}

    by = f"hookline state {args.state_command}"
    if database is not None:
        version, new = _pg(database, lambda conn, pg: pg.replace(conn, name, change, by), True)
    else:
        version, new = StateStore(path).replace(name, change, by)
    print(f"state of {name}: version {version}", file=sys.stderr)
    print(json.dumps(new, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def _value(text: str) -> Any:
    try:
        return loads(text)
    except UntrustedJSONError as exc:
        raise UsageError(
            f"state set: the value is not JSON ({exc}); write a text in double quotes, "
            """e.g. '"2024-05-01T00:00:00Z"'"""
        ) from exc


def _pg(url: str, action: Callable[[Any, Any], T], write: bool = False) -> T:
    """``action(connection, _pg_state)`` against the database at ``url`` (migrated first
    when it writes); its errors as one line."""
    import psycopg

    from ..scale import _pg_state
    from ..scale._pg import connect, describe, migrate

    conn = connect(url)
    try:
        if write:
            migrate(conn)
        return action(conn, _pg_state)
    except psycopg.Error as exc:
        raise HooklineError(f"cannot reach the state in the database: {describe(exc)}") from None
    finally:
        conn.close()


def _show(found: dict[str, Any], name: str, where: str) -> int:
    shown = {
        "pipeline": name,
        "version": found.get("version", 0),
        "updated_at": found.get("updated_at"),
        "updated_by": found.get("updated_by"),
        "state": found.get("state", {}),
        "changes": found.get("changes", []),
    }
    if "version" not in found:
        print(f"no state saved for pipeline {name!r} in {where}", file=sys.stderr)
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0
