"""The service: the catalog of pipelines, the durable intake, the worker pool, the
scheduler and the two listeners, with their lifecycle.

One process; workers are threads (docs/serve.md#workers). The main thread runs the event
loop of both listeners and handles the signals:

- SIGTERM (and Ctrl-C): the listeners close, requests under way get their answer, runs
  under way get ``grace`` seconds to finish, and those still going are stopped and left
  queued (durable: they resume at the next start). Exit 0.
- SIGHUP: the pipelines are loaded again; a set that would not validate is refused (each
  problem logged) and the old set keeps serving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from .._errors import PipelineInvalid
from .._log import Format, RunLog
from .._model import Pipeline
from .._redact import Redactor
from .._store import Store, settings_from_env
from ..triggers.schedule import Schedule, schedule_of
from ._admin import AdminApp
from ._app import WebhookApp
from ._catalog import Catalog, load_catalog
from ._intake_sqlite import MAX_QUEUE, SqliteIntake
from ._intake_store import Durability
from ._logstream import LogStream
from ._metrics import Metrics
from ._poller import Poller
from ._queue import Accepted, Delivery
from ._scheduler import Scheduler
from ._server import bind, make_server, new_loop
from ._workers import DEFAULT_WORKERS, WorkerPool

if TYPE_CHECKING:
    from ..scale._config import ScaleConfig
    from ..scale._intake import CeleryIntake
    from ..scale._pg_history import PgStore
    from ..scale._serve import Distributed

DEFAULT_GRACE = 30.0
"""Seconds runs under way get to finish at SIGTERM before they are left queued."""


@dataclass(frozen=True)
class Settings:
    directory: str
    home: Path
    host: str = "127.0.0.1"
    port: int = 8080
    admin_host: str = "127.0.0.1"
    admin_port: int = 9090
    workers: int = DEFAULT_WORKERS
    grace: float = DEFAULT_GRACE
    skip_invalid: bool = False
    durability: Durability = "process"
    max_queue: int = MAX_QUEUE
    log_format: Format = "text"
    # Broker, database and Redis URLs: distributed mode (docs/deploy.md); None: embedded.
    scale: ScaleConfig | None = None


class MeteredRecorder:
    """The run history, counting each run in the metrics as it ends."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._started: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def run_started(self, run_id: str, pipeline: Pipeline, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._started[run_id] = (pipeline.name, time.monotonic())
        self._inner.run_started(run_id, pipeline, *args, **kwargs)

    def run_finished(self, run_id: str, status: str, *args: Any, **kwargs: Any) -> None:
        self._inner.run_finished(run_id, status, *args, **kwargs)
        with self._lock:
            started = self._started.pop(run_id, None)
        if started is not None:
            self._metrics.run_finished(started[0], status, time.monotonic() - started[1])

    def __getattr__(self, name: str) -> Any:  # every other Recorder method, as it is
        return getattr(self._inner, name)


class CountingIntake:
    """The intake as the scheduler sees it: each fire it commits counted in the metrics."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def submit(self, delivery: Delivery) -> concurrent.futures.Future[Accepted]:
        future = self._inner.submit(delivery)

        def count(done: concurrent.futures.Future[Accepted]) -> None:
            if done.exception() is None:
                if done.result().duplicate:
                    self._metrics.duplicates.labels(delivery.pipeline).inc()
                else:
                    self._metrics.deliveries.labels(delivery.pipeline, delivery.trigger).inc()

        future.add_done_callback(count)
        return future

    def __getattr__(self, name: str) -> Any:  # depth, active, outcome: as they are
        return getattr(self._inner, name)


def _schedules(catalog: Catalog) -> list[Schedule]:
    found = (schedule_of(p) for p in catalog.pipelines.values())
    return [s for s in found if s is not None]


class Service:
    # Embedded: the SQLite intake and history, a pool of worker threads; distributed:
    # PostgreSQL and Celery, the runs on hookline workers (``hookline.scale._serve``).
    intake: SqliteIntake | CeleryIntake
    store: Store | PgStore
    pool: WorkerPool | Distributed

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        import os

        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.redactor = Redactor()
        self.stream = LogStream(sys.stderr)
        # stamps=None: text lines carry a timestamp when stderr is not a terminal (a
        # journal without its own stamps, a file), as HOOKLINE_LOG_TIME says
        self.log = RunLog(
            cast(TextIO, self.stream),
            fmt=settings.log_format,
            redactor=self.redactor,
            stamps=None,
        )
        self.metrics = Metrics()
        self.catalog = Catalog()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reloading = False
        self.stopping = False
        self.scheduler: Scheduler | None = None
        self.poller: Poller | None = None
        self._stopped_at: float | None = None
        self.distributed: Distributed | None = None

    # --- the pipelines --------------------------------------------------------------

    def _load(self) -> Catalog:
        return load_catalog(
            self.settings.directory,
            env=self.env,
            cache=self.settings.home,
            skip_invalid=self.settings.skip_invalid,
        )

    def _adopt(self, catalog: Catalog) -> None:
        for secrets in catalog.secrets.values():
            for value in secrets.values():
                self.redactor.add(value)
        self.catalog = catalog
        self.app.routes = catalog.routes
        if self.scheduler is not None:
            self.scheduler.reload(_schedules(catalog))
        if self.poller is not None:
            self.poller.reload(catalog.pipelines.values())
        for warning in catalog.warnings:  # weak secrets: at each load, never the value
            self.log.warning(warning, event="weak_secret")
        for path in catalog.skipped:
            problems = [p for p in catalog.problems if p.file == path]
            self.log.warning(
                f"{path}: skipped ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
                event="skipped",
            )
            for problem in problems:
                self.log.info(f"  {problem}", event="problem")

    def lookup(self, name: str) -> Pipeline | None:
        return self.catalog.lookup(name)

    def _open_distributed(self, config: ScaleConfig) -> None:
        """The intake, history and leader of distributed mode (``hookline.scale``)."""
        from ..scale import require_extra

        require_extra()  # one line, exit 2, before anything of the extra is imported
        from ..scale._config import passwords
        from ..scale._serve import Distributed

        # A server's password is a secret of the log too: a driver's message that quoted
        # its URL would be redacted.
        for url in (config.broker, config.database, config.redis):
            for secret in passwords(url):
                self.redactor.add(secret)

        self.distributed = Distributed(
            config,
            env=self.env,
            log=self.log,
            metrics=self.metrics,
            max_queue=self.settings.max_queue,
            home=self.settings.home,
        )
        self.intake = self.distributed.intake
        self.store = self.distributed.store
        self.pool = self.distributed

    # --- running --------------------------------------------------------------------

    def run(self) -> int:
        """Load, bind, serve until SIGTERM; the exit code."""
        try:
            return self._run()
        finally:
            self.stream.close()  # every line logged is out before the process ends

    def _run(self) -> int:
        s = self.settings
        catalog = self._load()  # PipelineInvalid: nothing started, the CLI lists it all
        if not catalog.pipelines:  # --skip-invalid skipped every one: nothing to serve
            raise PipelineInvalid(catalog.problems)
        public_sock = bind(s.host, s.port)
        admin_sock = bind(s.admin_host, s.admin_port)
        s.home.mkdir(parents=True, exist_ok=True)
        db = s.home / "hookline.db"
        if s.scale is not None:  # the queue, history and workers are elsewhere
            self._open_distributed(s.scale)
        else:
            intake = SqliteIntake(db, durability=s.durability, max_queue=s.max_queue)
            self.intake = intake
            history = settings_from_env(self.env)
            self.store = Store(
                db,
                warn=lambda message: self.log.warning(message, event="history_off"),
                busy_timeout=history["busy_timeout"],
                max_mb=history["max_mb"],
            )
        self.app = WebhookApp(self.intake, self.metrics, self.log)
        self.metrics.watch_queue(self.intake.depth)
        self._adopt(catalog)
        if self.distributed is None:
            self.pool = WorkerPool(
                intake,
                home=s.home,
                lookup=self.lookup,
                recorder=MeteredRecorder(self.store, self.metrics),
                workers=s.workers,
                make_log=lambda: RunLog(cast(TextIO, self.stream), fmt=s.log_format, stamps=None),
                env=self.env,
            )
        self.admin = AdminApp(self.metrics, self._health)
        loop = new_loop()
        try:
            self.pool.start()
            if self.pool.recovered:
                self.log.info(
                    f"took back {len(self.pool.recovered)} deliveries a stopped process left "
                    "unfinished",
                    event="recovered",
                )
            counting = CountingIntake(self.intake, self.metrics)
            make_log = lambda: RunLog(cast(TextIO, self.stream), fmt=s.log_format, stamps=None)  # noqa: E731
            if self.distributed is not None:  # the leader's fire alone, marks in PostgreSQL
                self.scheduler = self.distributed.scheduler(counting, _schedules(catalog))
                self.poller = self.distributed.poller(
                    counting,
                    catalog.pipelines.values(),
                    recorder=MeteredRecorder(self.store, self.metrics),
                    make_log=make_log,
                )
            else:
                self.scheduler = Scheduler(counting, _schedules(catalog), db=db, log=self.log)
                self.poller = Poller(
                    counting,
                    catalog.pipelines.values(),
                    db=db,
                    log=self.log,
                    env=self.env,
                    recorder=MeteredRecorder(self.store, self.metrics),
                    make_log=make_log,
                )
            if self.scheduler is not None:
                self.scheduler.start()
            if self.poller is not None:
                self.poller.start()
            self.public = make_server(self.app, public_sock, grace=s.grace)
            self.admin_server = make_server(self.admin, admin_sock, grace=s.grace)
            loop.run_until_complete(self._serve(loop, public_sock, admin_sock))
        finally:
            self._shutdown_workers()
            loop.close()
        self.log.info("stopped", event="stopped")
        return 0

    async def _serve(
        self, loop: asyncio.AbstractEventLoop, public_sock: Any, admin_sock: Any
    ) -> None:
        self._loop = loop
        self._stop = asyncio.Event()
        for signum, handler in (
            (signal.SIGTERM, self._on_stop),
            (signal.SIGINT, self._on_stop),
            (signal.SIGHUP, self._on_reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, handler, signum)
        public = asyncio.ensure_future(self.public.serve(sockets=[public_sock]))
        admin = asyncio.ensure_future(self.admin_server.serve(sockets=[admin_sock]))
        s = self.settings
        self.log.info(
            f"serving {self.catalog.describe()} on http://{_host(s.host)}:"
            f"{public_sock.getsockname()[1]}; health and metrics on http://"
            f"{_host(s.admin_host)}:{admin_sock.getsockname()[1]}; {self._runs_where()}",
            event="serving",
        )
        await self._stop.wait()
        self.stopping = True
        self.app.stopping = True
        self.public.should_exit = True
        self.admin_server.should_exit = True
        await asyncio.gather(public, admin, return_exceptions=True)

    def _runs_where(self) -> str:
        if self.distributed is not None:
            return self.distributed.describe()
        s = self.settings
        return f"{s.workers} worker{'s' if s.workers != 1 else ''}"

    def _on_stop(self, signum: int) -> None:
        name = signal.Signals(signum).name
        assert self._stop is not None
        first = not self._stop.is_set()
        if first:
            self._stopped_at = time.monotonic()
        self._stop.set()  # before any logging: nothing may keep the service from stopping
        self.stopping = True
        if not first:
            self.public.force_exit = True
            self.admin_server.force_exit = True
            self.log.info(f"{name} again: stopping now", event="stopping")
            return
        runs = f"runs under way get {self.settings.grace:g}s to finish"
        if self.distributed is not None:  # the workers run them; they stop on their own
            runs = "deliveries under way are committed first"
        self.log.info(f"{name}: stopping; {runs}", event="stopping")

    def _on_reload(self, signum: int) -> None:
        if self._reloading or self.stopping:
            return
        self._reloading = True
        assert self._loop is not None
        self._loop.run_in_executor(None, self._reload)

    def _reload(self) -> None:
        try:
            catalog = self._load()
        except PipelineInvalid as exc:
            self.log.error(
                f"SIGHUP: reload refused ({len(exc.problems)} problem"
                f"{'s' if len(exc.problems) != 1 else ''}); the pipelines loaded before keep "
                "serving",
                event="reload_refused",
            )
            for problem in exc.problems:
                self.log.info(f"  {problem}", event="problem")
            return
        except Exception as exc:  # a directory gone, unreadable: the old set serves on
            self.log.error(f"SIGHUP: reload refused: {exc}", event="reload_refused")
            return
        finally:
            self._reloading = False
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._adopt_reloaded, catalog)

    def _adopt_reloaded(self, catalog: Catalog) -> None:
        self._adopt(catalog)
        self.log.info(f"SIGHUP: reloaded {catalog.describe()}", event="reloaded")

    def _shutdown_workers(self) -> None:
        if self.poller is not None:
            self.poller.stop()  # a poll in flight ends before the intake closes
        if self.scheduler is not None:
            self.scheduler.stop()  # no fire after this: what it fired waits in the queue
        # One grace period from SIGTERM for all of it: the requests under way had theirs.
        spent = 0.0 if self._stopped_at is None else time.monotonic() - self._stopped_at
        cancelled = self.pool.stop(max(0.0, self.settings.grace - spent))
        if cancelled:
            self.log.warning(
                f"{len(cancelled)} run{'s' if len(cancelled) != 1 else ''} did not finish "
                f"within {self.settings.grace:g}s: left queued, they resume at the next start",
                event="left_queued",
            )
        if self.distributed is not None:
            self.distributed.close()  # its intake, history, leader and pool, in order
            return
        self.intake.close()
        self.store.close()

    def _health(self) -> dict[str, Any]:
        health = {
            "status": "stopping" if self.stopping else "ok",
            "pipelines": len(self.catalog.pipelines),
            "queue_depth": self.intake.depth(),
            "running": self.pool.running(),
        }
        if self.distributed is not None:
            health.update(self.distributed.health(str(health["status"])))
        return health


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
