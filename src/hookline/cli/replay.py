"""``hookline replay RUN_ID`` / ``--all-dead PIPELINE``: run again with the same input."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import HooklineError, UsageError
from .._home import default_home
from .._log import Level, RunLog
from ._database import REDIS_HELP, add_database, database_url, redis_url

if TYPE_CHECKING:
    from ..serve._replay import Source

DESCRIPTION = (
    "Run a recorded run's pipeline again with the same input: the input the delivery "
    "arrived with (kept in the deliveries table), else the one in the run history. It runs "
    "here, like run-pipeline, unless --queue hands it to a running 'hookline serve'. "
    "With --database (or HOOKLINE_DATABASE_URL) the history, deliveries and queue are the "
    "distributed mode's, in PostgreSQL. "
    "Exit 0 success, 1 the run failed, 2 usage, 75 the pipeline is already running."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="run a recorded run again with the same input", description=DESCRIPTION
    )
    p.add_argument("run_id", metavar="RUN_ID", nargs="?", help="a run id or a unique prefix")
    p.add_argument(
        "--all-dead",
        metavar="PIPELINE",
        help="replay every dead delivery of this pipeline, oldest first",
    )
    p.add_argument(
        "--queue",
        action="store_true",
        help="put the delivery back in the queue of a running 'hookline serve' instead",
    )
    p.add_argument("--db", metavar="PATH", help="run history database")
    add_database(p)
    p.add_argument("--redis", metavar="URL", help=REDIS_HELP)
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="log requests and responses")
    noise.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if (args.run_id is None) == (args.all_dead is None):
        raise UsageError("give a RUN_ID, or --all-dead PIPELINE (not both)")
    database = database_url(args)  # PostgreSQL (distributed mode) or None: SQLite
    shared = None if args.queue else redis_url(args)  # the run's lock as a Redis lease
    home = default_home()
    db = Path(args.db) if args.db else home / "hookline.db"
    level: Level = "verbose" if args.verbose else "quiet" if args.quiet else "normal"
    log = RunLog(sys.stderr, fmt=args.log_format, level=level)
    if database is not None:
        from ..scale import _pg_replay as where
    else:
        from ..serve import _replay as where  # type: ignore[no-redef]
    place: Any = database if database is not None else db
    if args.run_id is not None:
        sources = [where.find_source(place, args.run_id)]
    else:
        sources = where.dead_sources(place, args.all_dead)
        if not sources:
            log.info(f"no dead deliveries of '{args.all_dead}'", event="replay_none")
            return 0
    if args.queue:
        if database is not None:
            return _queue_pg(database, sources, log)
        return _queue(db, sources, log)
    with _coordinated(shared, log):
        return _replay_all(args, home, db, sources, log, database)


def _replay_all(
    args: argparse.Namespace,
    home: Path,
    db: Path,
    sources: list[Source],
    log: RunLog,
    database: str | None,
) -> int:
    if args.run_id is not None:
        return _replay_here(home, db, sources[0], log, print_output=True, database=database)
    failed = 0
    for source in sources:
        try:
            code = _replay_here(home, db, source, log, print_output=False, database=database)
        except HooklineError as exc:  # this one's file or input: say so, go on
            log.error(f"run {source.run_id}: {exc}", event="replay_failed")
            code = 1
        failed += code != 0
    log.info(
        f"replayed {len(sources)} dead deliver{'y' if len(sources) == 1 else 'ies'} of "
        f"'{args.all_dead}': {len(sources) - failed} succeeded, {failed} failed",
        event="replay_done",
    )
    return 1 if failed else 0


@contextlib.contextmanager
def _coordinated(url: str | None, log: RunLog) -> Iterator[None]:
    """With ``--redis``: the pipeline's run lock and slots are Redis leases, shared with
    the workers of the distributed mode (as ``run-pipeline --redis`` does)."""
    if url is None:
        yield
        return
    from ..scale._coordinate import install_redis, uninstall

    install_redis(url, log=log)
    try:
        yield
    finally:
        uninstall()


def _queue_pg(database: str, sources: list[Source], log: RunLog) -> int:
    from ..scale._pg_replay import queue_new, requeue

    code = 0
    for source in sources:
        if source.delivery is None:
            accepted = queue_new(database, source)
            log.info(
                f"run {source.run_id}: queued as run {accepted.run_id}; hookline workers take it",
                event="replay_queued",
            )
        elif requeue(database, source):
            log.info(
                f"run {source.run_id}: its delivery is queued again; hookline workers take it",
                event="replay_queued",
            )
        else:
            log.error(f"run {source.run_id}: its delivery is already queued")
            code = 1
    return code


def _queue(db: Path, sources: list[Source], log: RunLog) -> int:
    from ..serve._intake_sqlite import SqliteIntake
    from ..serve._queue import Delivery, IntakeUnavailable, QueueFull
    from ..serve._replay import requeue

    code = 0
    intake: SqliteIntake | None = None
    try:
        for source in sources:
            if source.delivery is not None:
                if requeue(db, source):
                    log.info(
                        f"run {source.run_id}: its delivery is queued again; the running "
                        "service takes it",
                        event="replay_queued",
                    )
                else:
                    log.error(f"run {source.run_id}: its delivery is already queued")
                    code = 1
                continue
            intake = intake or SqliteIntake(db)
            try:
                accepted = intake.submit(Delivery(source.pipeline, "replay", source.input)).result()
            except (QueueFull, IntakeUnavailable) as exc:
                log.error(f"run {source.run_id}: not queued: {exc}", event="replay_failed")
                code = 1
                continue
            log.info(
                f"run {source.run_id}: queued as run {accepted.run_id}; the running service "
                "takes it",
                event="replay_queued",
            )
    finally:
        if intake is not None:
            intake.close()
    return code


def _replay_here(
    home: Path,
    db: Path,
    source: Source,
    log: RunLog,
    *,
    print_output: bool,
    database: str | None = None,
) -> int:
    from .._engine import run_pipeline
    from .._env import read_config
    from .._inputs import check_input
    from .._load import load_pipeline
    from .._locks import EXIT_BUSY, run_slot
    from .._runtime import Runtime
    from .._store import Store, settings_from_env
    from ..serve._intake_store import new_run_id
    from ..serve._replay import record_replay
    from ._signals import stop_on_signals

    if not source.file or not os.path.exists(source.file):
        raise UsageError(
            f"run {source.run_id}: its pipeline file {source.file or '(unknown)'} is not there "
            "any more"
        )
    pipeline = load_pipeline(source.file, cache=home)
    text = json.dumps(source.input, indent=2, ensure_ascii=False)
    check_input(pipeline, source.input, (f"<input of run {source.run_id}>", text))
    secrets, env = read_config(pipeline, os.environ)  # every missing one at once (exit 2)
    history = settings_from_env()
    run_id = new_run_id()
    with stop_on_signals(), run_slot(home, pipeline.name, pipeline.concurrency, log) as busy:
        if busy:
            return EXIT_BUSY
        store: Any
        if database is not None:  # the distributed mode's history (and state)
            from ..scale._pg_history import PgStore

            store = PgStore(
                database, warn=lambda message: log.warning(message, event="history_off")
            )
        else:
            store = Store(
                db,
                warn=lambda message: log.warning(message, event="history_off"),
                busy_timeout=history["busy_timeout"],
                max_mb=history["max_mb"],
            )
        try:
            runtime = Runtime(pipeline, secrets, log=log, recorder=store)
            runtime.env = env
            try:
                result = run_pipeline(
                    pipeline, source.input, runtime=runtime, trigger="replay", run_id=run_id
                )
            finally:
                runtime.close()
        finally:
            store.close()
    if database is not None:
        from ..scale._pg_replay import record_replay as record_pg

        record_pg(database, source, result.run_id, result.status)
    else:
        record_replay(db, source, result.run_id, result.status)
    if not result.ok:
        log.error(
            f"replay of run {source.run_id} failed: {result.error or 'the run failed'}",
            event="run_failed",
            run_id=result.run_id,
        )
        return 1
    log.info(f"run {source.run_id} replayed as run {result.run_id}", event="replayed")
    if print_output:
        sys.stdout.write(json.dumps(result.output, indent=2, ensure_ascii=False) + "\n")
    return 0
