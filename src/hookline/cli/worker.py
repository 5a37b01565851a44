"""``hookline worker DIR``: run, in distributed mode, the deliveries ``hookline serve``
queued, on as many machines as there are workers.

The distributed mode's packages (celery, redis, psycopg) come with the ``hookline[scale]``
extra and are imported only once the command runs (``hookline.scale``).
"""

from __future__ import annotations

import argparse
import os

from .._errors import PipelineInvalid, UsageError
from .._home import default_home
from .serve import _port, _positive, _seconds

DESCRIPTION = (
    "Run the deliveries hookline serve queued (distributed mode): take them from the "
    "broker, run them with history, state and checkpoints in PostgreSQL, pipeline slots "
    "and rate limits in Redis. Every option may come from the environment: --broker "
    "$HOOKLINE_BROKER_URL (redis://... or amqp://...), --database $HOOKLINE_DATABASE_URL "
    "(postgresql://...), --redis $HOOKLINE_REDIS_URL (default: the broker's URL when it is "
    "Redis). Refuses to start while any pipeline is invalid (exit 2), as serve does. "
    "/healthz and /metrics on the admin listener. SIGTERM: no new run; runs under way get "
    "--grace seconds to finish, then are handed back to the queue (exit 0). "
    "See docs/deploy.md."
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker", help="run queued deliveries (distributed mode)", description=DESCRIPTION
    )
    p.add_argument("directory", metavar="DIR", help="the directory of pipeline files")
    p.add_argument(
        "--broker", metavar="URL", help="Celery broker URL (default $HOOKLINE_BROKER_URL)"
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="PostgreSQL URL for history, state and deliveries (default $HOOKLINE_DATABASE_URL)",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="coordination Redis URL (default $HOOKLINE_REDIS_URL, else a Redis broker's URL)",
    )
    p.add_argument(
        "--concurrency", type=_positive, default=4, help="runs at once in this worker (4)"
    )
    p.add_argument("--admin-host", default="127.0.0.1", help="admin listener address (127.0.0.1)")
    p.add_argument(
        "--admin-port",
        type=_port,
        default=8082,
        help="admin listener port: /healthz, /metrics (8082)",
    )
    p.add_argument(
        "--grace",
        type=_seconds,
        default=30.0,
        help="seconds runs under way get to finish at SIGTERM before they are handed back "
        "to the queue (30)",
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
        help="process (default): each run record committed in PostgreSQL survives a crash "
        "of any hookline process, not one of the PostgreSQL server (its last fraction of a "
        "second may be lost: the run goes again from its checkpoints); power: every commit "
        "waits for the server's disk flush (slower). serve's intake always waits. Default "
        "from $HOOKLINE_DURABILITY",
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..scale import require_extra
    from ..scale._config import ScaleConfig
    from ..serve._intake_store import durability_from_env

    durability = durability_from_env(args.durability)
    config = ScaleConfig.from_args_env(args, os.environ)
    if config.distributed:
        require_extra()
    config.require("hookline worker", broker=True, database=True, redis=True)
    try:
        from ..scale._worker import Worker, WorkerSettings
    except ImportError as exc:  # pragma: no cover - the serve extra is part of dev installs
        raise UsageError(
            f"hookline worker needs the serve extra ({exc.name} is missing): "
            "pip install 'hookline[serve,scale]'"
        ) from None
    settings = WorkerSettings(
        directory=args.directory,
        home=default_home(),
        config=config,
        concurrency=args.concurrency,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        grace=args.grace,
        skip_invalid=args.skip_invalid,
        log_format=args.log_format,
        durability=durability,
    )
    try:
        return Worker(settings).run()
    except PipelineInvalid as exc:
        from .serve import report_invalid

        return report_invalid(exc, skip_invalid=args.skip_invalid)
