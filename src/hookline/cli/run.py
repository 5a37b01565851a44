"""``run-pipeline FILE`` / ``hookline run FILE``: validate, run once, print the output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._display import json_safe
from .._engine import run_pipeline
from .._env import read_config
from .._errors import UsageError
from .._home import default_home
from .._inputs import check_input, check_var_names, parse_input, read_input
from .._load import load_pipeline
from .._locks import EXIT_BUSY, run_slot
from .._log import Level, RunLog
from .._runtime import Runtime
from .._secrets import weak_secrets
from .._store import Store, settings_from_env
from ._database import REDIS_HELP, add_database, database_url, redis_url
from ._signals import stop_on_signals

DESCRIPTION = (
    "Validate a pipeline, run it once and print its output as JSON on stdout; the log goes "
    "to stderr. Exit 0 success, 1 the run failed, 2 invalid pipeline, input or usage, "
    "75 the pipeline is already running (see 'concurrency')."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the pipeline file")
    p.add_argument(
        "--input",
        metavar="JSON|@FILE|-",
        help="the run's input: JSON text, @path of a JSON file, or - to read stdin",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one of the pipeline's vars for this run (VALUE is a string); repeatable",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the requests the run would send, without sending them",
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        help="run history database (default hookline.db in $HOOKLINE_HOME, else in the "
        "user state directory, e.g. ~/.local/state/hookline)",
    )
    add_database(p)
    p.add_argument("--redis", metavar="URL", help=REDIS_HELP)
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument(
        "--output",
        metavar="FILE",
        help="write the output to FILE instead of stdout: atomically, and only when the run "
        "succeeds (a failed run leaves FILE as it was)",
    )
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="log requests and responses")
    noise.add_argument("-q", "--quiet", action="store_true", help="log errors only")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run a pipeline once", description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(handler=handle)


def parse_overrides(
    items: list[str], known: list[str], env: tuple[str, ...] = ()
) -> dict[str, str]:
    check_var_names(items, known, env)  # with "did you mean", and env names pointed out
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--var {item!r}: write NAME=VALUE")
        if name not in known:
            defined = ", ".join(known) or "none"
            raise UsageError(
                f"--var {name}: the pipeline has no var {name!r} (its vars: {defined})"
            )
        if name in out:  # the last one winning silently hides a typo in a script
            raise UsageError(f"--var {name}: given more than once; give each var once")
        out[name] = value
    return out


def handle(args: argparse.Namespace) -> int:
    home = default_home()
    history = settings_from_env()
    database = database_url(args)  # PostgreSQL (distributed mode) or None: SQLite
    shared = None if args.dry_run else redis_url(args)
    pipeline = load_pipeline(args.file, cache=None if args.dry_run else home)
    source = read_input(args.input, sys.stdin)
    value = parse_input(*source) if source else None
    if source is None and pipeline.trigger.kind == "schedule":
        value = pipeline.trigger.config.get("input", {})  # what a scheduled run receives
    check_input(pipeline, value, source)
    poll = None  # a poll pipeline without --input polls; with it, it runs that input
    if source is None and not args.dry_run and pipeline.trigger.kind == "poll":
        from ..triggers.poll import poll_of

        poll = poll_of(pipeline)
    env_names = tuple(name for name, _ in pipeline.env)
    overrides = parse_overrides(args.var, [name for name, _ in pipeline.vars], env_names)
    secrets, env = read_config(pipeline, os.environ)  # every missing one at once (exit 2)
    if args.output is not None:  # a bad path is exit 2 before anything is sent
        from ._output import check_output

        check_output(args.output)
    level: Level = "verbose" if args.verbose else "quiet" if args.quiet else "normal"
    log = RunLog(sys.stderr, fmt=args.log_format, level=level, progress=True, stamps=None)
    # -q keeps errors only, but a run whose history is off must still say so, once.
    notice = log if level != "quiet" else RunLog(sys.stderr, fmt=args.log_format, stamps=None)
    for warning in weak_secrets(secrets):  # once, at the start; the value is never shown
        log.warning(warning, event="weak_secret")
    slots = 0 if args.dry_run else pipeline.concurrency  # 0: a dry run takes no lock
    db = Path(args.db) if args.db else home / "hookline.db"
    with (
        stop_on_signals(),
        _coordinated(shared, notice),
        run_slot(home, pipeline.name, slots, notice, db) as busy,
    ):
        if busy:
            return EXIT_BUSY
        store: Any = None
        if args.dry_run:
            pass
        elif database is not None:
            from ..scale._pg_history import PgStore

            store = PgStore(
                database, warn=lambda message: notice.warning(message, event="history_off")
            )
        else:
            store = Store(
                db,
                warn=lambda message: notice.warning(message, event="history_off"),
                busy_timeout=history["busy_timeout"],
                max_mb=history["max_mb"],
            )
        try:
            if poll is not None:  # one poll, its runs in-process (cli/_poll_run.py)
                from ._poll_run import poll_and_run

                status, text = poll_and_run(
                    pipeline,
                    poll,
                    secrets=secrets,
                    env=env,
                    log=log,
                    store=store,
                    db=db,
                    overrides=overrides,
                )
                return status if text is None else (_emit(text, args.output, log) or status)
            runtime = Runtime(pipeline, secrets, log=log, recorder=store, dry_run=args.dry_run)
            runtime.env = env
            try:
                result = run_pipeline(pipeline, value, runtime=runtime, overrides=overrides)
            finally:
                runtime.close()
        finally:
            if store is not None:
                store.close()
    if args.dry_run:
        report = {"requests": runtime.dry_requests, "stopped": result.error}
        if result.error:
            log.info(result.error, event="dry_run_stopped")
        ended = result.status == "dry-run" or result.ok
        if not ended or args.output is None:
            sys.stdout.write(json_safe(json.dumps(report, indent=2, ensure_ascii=False)) + "\n")
            return 0 if ended else 1
        text = json_safe(json.dumps(report, indent=2, ensure_ascii=False))
        return _emit(text, args.output, log)
    if not result.ok:
        if log.kept and log.fmt == "text":  # JSON lines carry the id in "run"
            log.failed_run(result.run_id, args.db, getattr(args, "env_file", None))
        log.error(result.error or "the run failed", event="run_failed", run_id=result.run_id)
        return 1
    try:
        # U+2028, C1, bidi controls as \uXXXX: the same JSON, inert on a terminal
        text = json_safe(json.dumps(result.output, indent=2, ensure_ascii=False, allow_nan=False))
    except ValueError:
        log.error("the output holds NaN or Infinity, which JSON cannot carry", event="run_failed")
        return 1
    return _emit(text, args.output, log)


@contextlib.contextmanager
def _coordinated(url: str | None, log: RunLog) -> Iterator[None]:
    """With ``--redis``: the run lock and slots are Redis leases for the block."""
    if url is None:
        yield
        return
    from ..scale._coordinate import install_redis, uninstall

    install_redis(url, log=log)
    try:
        yield
    finally:
        uninstall()


def _emit(text: str, output: str | None, log: RunLog) -> int:
    """Print ``text`` on stdout, or write it to the ``--output`` file (cli/_output.py)."""
    try:
        if output is not None:
            from ._output import write_output

            write_output(output, text + "\n")
            return 0
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        where = f" to {output}" if output is not None else ""
        log.error(f"cannot write the output{where}: {exc.strerror}", event="run_failed")
        return 1
    return 0
