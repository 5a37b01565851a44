"""``hookline serve`` in distributed mode: what replaces the worker pool.

The service (``serve._service``) keeps its listeners, its catalog, its webhook handling
and its signals; with a broker and a database configured it takes from here:

- the intake: ``CeleryIntake`` (deliveries committed in PostgreSQL, then published);
- the run history: ``PgStore`` (the poller's runs; ``/metrics`` counts them);
- no worker threads: ``hookline worker`` processes run the deliveries;
- the leader lease (``Leader`` in Redis): only the leader's dispatcher publishes what is
  due, and only the leader's scheduler and poller fire;
- the shared coordination (``install_redis``): the poller's requests obey the rate
  limits every worker shares;
- metrics: queue depth and runs in flight from PostgreSQL, and what the dispatcher
  published again (``hookline_redeliveries_total``).

Everything is opened by ``Distributed(...)``; a database or Redis that cannot be reached
at start is one line and exit 1 (``PgUnavailable``, ``CoordinationUnavailable``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from . import require_extra
from ._config import ScaleConfig

if TYPE_CHECKING:
    from ..serve._metrics import Metrics

__all__ = ["LEADER_NAME", "Distributed"]

#: The name of serve's leader lease in Redis.
LEADER_NAME = "serve"
#: Connections serve's pool holds at most: the intake's writer, its outcome watcher, the
#: dispatcher, the history writer and readers, the scheduler and the poller.
POOL_SIZE = 8


class Distributed:
    """The distributed parts of one serve process. It stands in for the ``WorkerPool``
    (``start``, ``stop``, ``running``, ``recovered``) so the service's lifecycle is one."""

    def __init__(
        self,
        config: ScaleConfig,
        *,
        env: Mapping[str, str],
        log: Any,
        metrics: Metrics,
        max_queue: int,
        home: Path,
    ) -> None:
        require_extra()
        config.require("hookline serve", broker=True, database=True, redis=True)
        from ..serve._workers import keep_days_from_env
        from ._celery import make_app, publish
        from ._coordinate import install_redis, uninstall
        from ._dispatcher import Dispatcher
        from ._intake import CeleryIntake
        from ._leader import Leader
        from ._pg import make_pool, migrate
        from ._pg_history import PgStore
        from ._pg_schedule import next_term

        assert config.broker and config.database and config.redis
        self.config = config
        self.log = log
        self.env = env
        self.home = home
        self.recovered: list[dict[str, Any]] = []  # the WorkerPool's: none here
        self._closers: list[Callable[[], None]] = []
        keep_days = keep_days_from_env(env)
        # psycopg_pool logs each failed (re)connection at WARNING, which Python prints raw
        # on stderr when no handler is set: lines outside our log format (JSON broken),
        # several a second while the database is down. The intake (503s in the access
        # log) and the dispatcher (one warning per outage) say it in our log instead.
        logging.getLogger("psycopg").addHandler(logging.NullHandler())
        self.app = make_app(config, env, publisher=True)
        self.pg = make_pool(config.database, max_size=POOL_SIZE, name="hookline-serve")
        self._closers.append(self.pg.close)
        try:
            with self.pg.connection() as conn:
                migrate(conn)
            self.store = PgStore(
                self.pg, warn=lambda message: log.warning(message, event="history_off")
            )
            self._closers.insert(0, self.store.close)
            self.coordination = install_redis(config.redis, log=log)
            self._closers.insert(0, uninstall)
            self.leader = Leader(  # terms from PostgreSQL: they grow if Redis is emptied
                self.coordination.client, LEADER_NAME, log=log, terms=lambda: next_term(self.pg)
            )
            redeliveries = Counter(
                "hookline_redeliveries",
                "Deliveries published again because their worker died (lease expired) or "
                "the broker may have lost the message.",
                registry=metrics.registry,
            )
            dispatched = Counter(
                "hookline_dispatched",
                "Deliveries the leader's dispatcher published, by reason.",
                ["reason"],
                registry=metrics.registry,
            )
            for reason in ("unpublished", "retry", "lost", "republish"):
                dispatched.labels(reason)

            def published(reason: str) -> None:
                dispatched.labels(reason).inc()
                if reason in ("lost", "republish"):
                    redeliveries.inc()

            self.intake = CeleryIntake(
                self.pg, lambda run_id: publish(self.app, run_id), max_queue=max_queue
            )
            self._closers.insert(0, self.intake.close)
            self.dispatcher = Dispatcher(
                self.intake.deliveries,
                lambda run_id: publish(self.app, run_id),
                self.leader,
                log=log,
                published=published,
                keep_done_days=keep_days,
            )
            in_flight = Gauge(
                "hookline_runs_in_flight",
                "Deliveries workers run now, on every machine (from the database).",
                registry=metrics.registry,
            )
            in_flight.set_function(lambda: float(self.intake.running()))
        except BaseException:
            self.close()
            raise

    # --- what the service asks of a worker pool --------------------------------------

    def start(self) -> None:
        self.leader.start()
        self.dispatcher.start()

    def stop(self, grace: float = 0.0) -> list[str]:
        """No runs here to wait for: stop publishing and give the leader lease back."""
        self.dispatcher.stop()
        self.leader.stop()
        return []

    def running(self) -> int:
        return self.intake.running()

    def describe(self) -> str:
        """For the "serving" line: where the runs go."""
        return f"runs on hookline workers via {self.config.describe()}"

    def health(self, status: str) -> dict[str, Any]:
        """What /healthz adds; a database that cannot be reached makes it 503, so that a
        load balancer sends the webhooks to an instance that can store them."""
        error = self.intake.db_error
        if error is not None and status == "ok":
            status = "database unavailable"
        return {
            "status": status,
            "mode": "distributed",
            "leader": self.leader.is_leader(),
            "database": "ok" if error is None else error,
        }

    def close(self) -> None:
        """Close what was opened, newest first (the intake commits what is pending)."""
        closers, self._closers = self._closers, []
        for close in closers:
            with contextlib.suppress(Exception):  # closing the rest matters more
                close()

    # --- the leader's scheduler and poller ----------------------------------------------

    def scheduler(self, intake: Any, schedules: Iterable[Any]) -> Any:
        """The scheduler, firing only while this instance leads; marks in PostgreSQL."""
        from ._pg_schedule import leader_scheduler

        return leader_scheduler(intake, schedules, pool=self.pg, leader=self.leader, log=self.log)

    def poller(self, intake: Any, pipelines: Iterable[Any], *, recorder: Any, make_log: Any) -> Any:
        """The poller, polling only while this instance leads; baselines in PostgreSQL."""
        from ._pg_schedule import leader_poller

        return leader_poller(
            intake,
            pipelines,
            pool=self.pg,
            leader=self.leader,
            log=self.log,
            env=self.env,
            recorder=recorder,
            make_log=make_log,
        )
