"""``hookline serve DIR``: receive webhooks and run schedules for every pipeline in DIR.

Everything the service needs beyond the core (uvicorn, prometheus_client) comes with the
``hookline[serve]`` extra, imported here only once the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._errors import PipelineInvalid, UsageError
from .._home import default_home

if TYPE_CHECKING:
    from ..scale._config import ScaleConfig

DESCRIPTION = (
    "Serve every pipeline under DIR: webhooks on the public listener, schedules on time, "
    "runs on a pool of worker threads; /healthz and /metrics on the admin listener. Refuses "
    "to start while any pipeline is invalid (exit 2). SIGTERM stops (exit 0), SIGHUP "
    "reloads the pipelines. With --broker and --database (or their environment variables) "
    "it runs in distributed mode: deliveries are committed in PostgreSQL and run by "
    "'hookline worker' processes on any number of machines. See docs/serve.md and "
    "docs/deploy.md."
)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to 256")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 0 to 3600")
    return value


def _queue(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to 10000000")
    return int(text)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve webhooks and schedules", description=DESCRIPTION)
    p.add_argument("directory", metavar="DIR", help="the directory of pipeline files")
    p.add_argument("--host", default="127.0.0.1", help="public listener address (127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="public listener port (8080)")
    p.add_argument("--admin-host", default="127.0.0.1", help="admin listener address (127.0.0.1)")
    p.add_argument(
        "--admin-port", type=_port, default=9090, help="admin listener port: /healthz, /metrics"
    )
    p.add_argument("--workers", type=_positive, default=4, help="worker threads (4; embedded mode)")
    p.add_argument(
        "--grace",
        type=_seconds,
        default=30.0,
        help="seconds runs under way get to finish at SIGTERM before they are left queued (30)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="start with the valid pipelines and say which were skipped",
    )
    p.add_argument(
        "--durability",
        choices=["process", "power"],
        default=None,
        help="process (default): an acknowledged delivery survives a crash of hookline; "
        "power: it survives a power loss too (an fsync per commit; slower). "
        "Default from $HOOKLINE_DURABILITY",
    )
    p.add_argument(
        "--max-queue",
        type=_queue,
        default=None,
        help="deliveries waiting past which new ones get 503 with Retry-After (10000)",
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    add_scale_options(p, redis_help=_REDIS_HELP)
    p.set_defaults(handler=handle)


_REDIS_HELP = (
    "distributed mode: Redis for the leader lease and shared limits "
    "(default: the broker's URL when it is Redis). Default from $HOOKLINE_REDIS_URL"
)


def add_scale_options(
    p: argparse.ArgumentParser, *, broker: bool = True, redis_help: str | None = None
) -> None:
    """--broker, --database, --redis: distributed mode (docs/deploy.md)."""
    if broker:
        p.add_argument(
            "--broker",
            metavar="URL",
            help="distributed mode: the Celery broker, redis://HOST:PORT/DB or "
            "amqp://HOST/ (a password in it is never shown). Default from "
            "$HOOKLINE_BROKER_URL",
        )
    p.add_argument(
        "--database",
        metavar="URL",
        help="distributed mode: PostgreSQL, postgresql://USER@HOST:PORT/DB, for the "
        "deliveries, run history and state. Default from $HOOKLINE_DATABASE_URL",
    )
    p.add_argument("--redis", metavar="URL", help=redis_help or _REDIS_HELP)


_SCALE_ENV = ("HOOKLINE_BROKER_URL", "HOOKLINE_DATABASE_URL", "HOOKLINE_REDIS_URL")


def scale_config(args: argparse.Namespace, environ: Mapping[str, str]) -> ScaleConfig | None:
    """The distributed mode's URLs, or None when none is set (embedded mode): then
    ``hookline.scale`` is not even imported."""
    given = any(getattr(args, name, None) for name in ("broker", "database", "redis"))
    if not given and not any(environ.get(name, "").strip() for name in _SCALE_ENV):
        return None
    from ..scale._config import ScaleConfig

    return ScaleConfig.from_args_env(args, environ)


def handle(args: argparse.Namespace) -> int:
    scale = scale_config(args, os.environ)
    if scale is not None:
        scale.require("hookline serve", broker=True, database=True, redis=True)
        from ..scale import require_extra

        require_extra()
    try:
        from ..serve._intake_sqlite import MAX_QUEUE
        from ..serve._intake_store import durability_from_env
        from ..serve._service import Service, Settings
    except ImportError as exc:  # pragma: no cover - the extra is part of dev installs
        raise UsageError(
            f"hookline serve needs the serve extra ({exc.name} is missing): "
            "pip install 'hookline[serve]'"
        ) from None
    settings = Settings(
        directory=args.directory,
        home=default_home(),
        host=args.host,
        port=args.port,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        workers=args.workers,
        grace=args.grace,
        skip_invalid=args.skip_invalid,
        durability=durability_from_env(args.durability),
        max_queue=args.max_queue or MAX_QUEUE,
        log_format=args.log_format,
        scale=scale,
    )
    if (args.host, args.port) == (args.admin_host, args.admin_port) and args.port:
        raise UsageError(
            "--admin-port must differ from --port: the admin paths are never served on the "
            "public listener"
        )
    try:
        return Service(settings).run()
    except PipelineInvalid as exc:
        return report_invalid(exc, skip_invalid=args.skip_invalid)


def report_invalid(exc: PipelineInvalid, *, skip_invalid: bool) -> int:
    """Every problem of a pipeline set that did not start, a count, and the exit code
    (serve and worker load a directory alike, and say the same of it)."""
    files = len({p.file for p in exc.problems})
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    count = f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} in {files} "
    count += "file" if files == 1 else "files"
    if skip_invalid:
        print(f"not started: no pipeline is valid ({count})", file=sys.stderr)
    else:
        print(f"not started: {count} (--skip-invalid starts with the valid ones)", file=sys.stderr)
    return exc.exit_code
