"""``hookline runs prune``: apply the retention rule to the run history (``_prune``)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from .._errors import HooklineError, UsageError
from .._home import default_db
from .._prune import KEEP_DAYS, Pruned, Retention, prune, retention
from .._store import settings_from_env
from .._store_schema import NewerSchema
from ._database import add_database, database_url


def add_parser(inner: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = inner.add_parser(
        "prune",
        help="delete old runs from the history",
        description="Delete runs that started more than --keep-days days ago, and runs past "
        "the --keep-runs newest of their pipeline, with everything recorded under them. A "
        "run still running, or one 'hookline serve' will resume or retry, is never deleted.",
    )
    p.add_argument(
        "--keep-days",
        type=int,
        metavar="N",
        help=f"keep runs of the last N days (default $HOOKLINE_KEEP_DAYS, else {KEEP_DAYS}; "
        "0: no limit by age)",
    )
    p.add_argument(
        "--keep-runs",
        type=int,
        metavar="N",
        help="keep at most the N newest runs of each pipeline (default $HOOKLINE_KEEP_RUNS, "
        "else 0: no limit by count)",
    )
    p.add_argument("--pipeline", metavar="NAME", help="prune only this pipeline's runs")
    p.add_argument("--db", metavar="PATH", help="run history database")
    add_database(p)
    p.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="then give the freed space back to the disk (VACUUM: the database is locked "
        "meanwhile, and it needs as much free disk as the database's size)",
    )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def handle(args: argparse.Namespace) -> int:
    rule = retention(args.keep_days, args.keep_runs, args.pipeline)
    database = database_url(args)
    path = Path(args.db) if args.db else default_db()
    if database is None and not path.exists():  # pruning must not create a history
        print(f"nothing to prune: no run history at {path}", file=sys.stderr)
        return 0
    if not rule.keep_days and not rule.keep_runs:
        raise UsageError(
            "nothing to prune: --keep-days and --keep-runs are both 0 (no limit); give one of them"
        )
    rules = []
    if rule.keep_days:
        rules.append(f"older than {rule.keep_days} day{'s' if rule.keep_days != 1 else ''}")
    if rule.keep_runs:
        rules.append(f"past the {rule.keep_runs} newest of their pipeline")
    which = " or ".join(rules) + (f", of pipeline '{rule.pipeline}'" if rule.pipeline else "")
    if database is not None:
        done = _prune_pg(database, rule, args)
    else:
        done = _prune_sqlite(path, rule, args)
    runs = f"{done.runs} run{'s' if done.runs != 1 else ''}"
    if args.dry_run:
        print(f"would delete {runs} ({which}); {done.kept} kept", file=sys.stderr)
        return 0
    print(f"deleted {runs} ({which}); {done.kept} kept", file=sys.stderr)
    if not done.blobs_swept:
        print(
            "stored headers and bodies were left in place: a hookline process is writing "
            "the history (serve, or a run); the next prune while none is removes those "
            "no run refers to",
            file=sys.stderr,
        )
    kept_size = "the tables keep their" if database is not None else "the file keeps its"
    print(
        f"history data: {_mb(done.bytes_before)} before, {_mb(done.bytes_after)} after"
        + ("" if args.vacuum else f" ({kept_size} size until --vacuum)"),
        file=sys.stderr,
    )
    return 0


def _prune_pg(url: str, rule: Retention, args: argparse.Namespace) -> Pruned:
    import psycopg

    from ..scale._config import masked
    from ..scale._pg import describe
    from ..scale._pg_history_prune import prune as prune_pg

    try:
        return prune_pg(
            url,
            rule,
            dry_run=args.dry_run,
            vacuum=args.vacuum,
            say=lambda text: print(text, file=sys.stderr),
        )
    except psycopg.Error as exc:
        raise HooklineError(
            f"cannot prune the history in {masked(url)}: {describe(exc)}; nothing more was deleted"
        ) from None


def _prune_sqlite(path: Path, rule: Retention, args: argparse.Namespace) -> Pruned:
    try:
        return prune(
            path,
            rule,
            dry_run=args.dry_run,
            vacuum=args.vacuum,
            busy_timeout=settings_from_env()["busy_timeout"],
            say=lambda text: print(text, file=sys.stderr),
        )
    except NewerSchema as exc:
        raise HooklineError(
            f"cannot prune {path}: it was written by a newer hookline (schema {exc}); prune "
            "it with that version"
        ) from exc
    except sqlite3.Error as exc:  # locked past the timeout, corrupt, not a database
        raise HooklineError(f"cannot prune {path}: {exc}; nothing more was deleted") from exc
