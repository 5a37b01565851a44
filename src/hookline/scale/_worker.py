"""``hookline worker``: an in-process Celery worker that runs the deliveries serve queued.

One process, ``--concurrency`` threads (Celery's ``threads`` pool: runs wait on HTTP, and
threads share the database pool, the Redis client and one history writer). At start it
loads and checks the pipeline directory exactly as ``serve`` does (an invalid set: the
same messages, exit 2), brings the database to this code's schema, installs the Redis
coordination (pipeline slots and rate limits shared by every worker), then consumes.

Celery's own banner and task chatter are left out: its warnings and errors (and the
database pool's errors) come out as one line each of the worker's log, in its format.

Signals (the main thread runs Celery's consumer loop):

- SIGTERM (and Ctrl-C): no new task is taken (Celery's warm shutdown: the messages not
  started stay in the broker); the runs under way get ``--grace`` seconds to finish; the
  ones still going are then stopped before their next step and handed back (their rows
  queued, their messages requeued), and another worker resumes them from their
  checkpoints. A run that has not stopped ``CANCEL_WAIT`` seconds later (it waits on a
  request) is handed back as it is, and the worker exits without it. Exit 0.
- A second SIGTERM: the runs under way are stopped and handed back at once.
- SIGHUP: the pipelines are loaded again, as serve does (a set that would not validate
  is refused, each problem logged, and the old set goes on).
- SIGKILL: nothing more runs here. The broker delivers the unacknowledged messages again
  (late acknowledgement), and the leader's dispatcher publishes the rows again once their
  leases expired; the next claim resumes each run from its checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from .._errors import PipelineInvalid
from .._log import Format, RunLog
from .._model import Pipeline
from .._redact import Redactor
from ..serve._catalog import Catalog, load_catalog
from ..serve._logstream import LogStream
from ..serve._server import bind
from ._config import ScaleConfig, passwords

__all__ = ["CANCEL_WAIT", "DEFAULT_CONCURRENCY", "DEFAULT_GRACE", "Worker", "WorkerSettings"]

#: Runs at once in one worker process (``--concurrency``).
DEFAULT_CONCURRENCY = 4
#: Seconds runs under way get to finish at SIGTERM before they are handed back.
DEFAULT_GRACE = 30.0
#: Connections the worker's database pool holds beyond one per run: the lease heartbeat,
#: the history writer, health checks.
_POOL_SPARE = 4
#: Seconds runs stopped at the end of the grace period get to end before the worker
#: hands them back as they are and exits (a run waiting on a request notices only later).
CANCEL_WAIT = 5.0
#: Seconds a health check waits for the database.
_HEALTH_TIMEOUT = 2.0
# Libraries' loggers: what they say from this level on becomes a line of our log, the rest
# is dropped. The database pool warns at each failed reconnection, in several lines: the
# worker says itself what a database down means (a claim that fails, /healthz).
_LIBRARY_LOGGERS = {
    "celery": logging.WARNING,
    # A task handed back (Reject) is a warning there, each time: the worker says it once.
    "celery.app.trace": logging.ERROR,
    "kombu": logging.WARNING,
    "amqp": logging.WARNING,
    "psycopg": logging.ERROR,
}


@dataclass(frozen=True)
class WorkerSettings:
    directory: str
    home: Path
    config: ScaleConfig
    concurrency: int = DEFAULT_CONCURRENCY
    admin_host: str = "127.0.0.1"
    admin_port: int = 8082
    grace: float = DEFAULT_GRACE
    skip_invalid: bool = False
    log_format: Format = "text"
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # The run records' commits (claims, history, checkpoints, outcomes): "process" does
    # not wait for PostgreSQL's WAL flush (hookline.scale._pg, docs/deploy.md).
    durability: str = "process"


class _ToOurLog(logging.Handler):
    """A library's records, as one line each of the worker's log."""

    def __init__(self, log: RunLog) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = record.getMessage().strip().splitlines() or [record.name]
            library = record.name.split(".")[0]
            text = f"{library}: {lines[0]}"
            if record.levelno >= logging.ERROR:
                self._log.error(text, event=library)
            else:
                self._log.warning(text, event=library)
        except Exception:  # a log line must never break the worker
            self.handleError(record)


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.env = settings.env
        self.redactor = Redactor()
        self.stream = LogStream(sys.stderr)
        self.log = RunLog(
            cast(TextIO, self.stream), fmt=settings.log_format, redactor=self.redactor, stamps=None
        )
        # A password in a server's URL is a secret of the log too: a library's message
        # that quoted it would be redacted.
        for url in (settings.config.broker, settings.config.database, settings.config.redis):
            for secret in passwords(url):  # userinfo, ?password=, a keyword string
                self.redactor.add(secret)
        self.catalog = Catalog()
        self.stopping = False
        self._signalled = 0
        self._controller: Any = None
        self._runner: Any = None
        self._pool: Any = None
        self._store: Any = None
        self._hurry = threading.Event()  # a second SIGTERM: hand back at once
        self._reloading = threading.Event()

    def lookup(self, name: str) -> Pipeline | None:
        return self.catalog.lookup(name)

    def _new_log(self) -> RunLog:
        fmt = self.settings.log_format
        return RunLog(cast(TextIO, self.stream), fmt=fmt, redactor=self.redactor, stamps=None)

    def run(self) -> int:
        """Load, connect, consume until SIGTERM; the exit code."""
        try:
            return self._run()
        finally:
            self.stream.close()

    def _load(self) -> Catalog:
        s = self.settings
        catalog = load_catalog(s.directory, env=self.env, cache=s.home, skip_invalid=s.skip_invalid)
        if not catalog.pipelines:  # --skip-invalid skipped every one
            raise PipelineInvalid(catalog.problems)
        for secrets in catalog.secrets.values():
            for value in secrets.values():
                self.redactor.add(value)
        for warning in catalog.warnings:
            self.log.warning(warning, event="weak_secret")
        for path in catalog.skipped:
            problems = [p for p in catalog.problems if p.file == path]
            self.log.warning(
                f"{path}: skipped ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
                event="skipped",
            )
            for problem in problems:
                self.log.info(f"  {problem}", event="problem")
        return catalog

    def _run(self) -> int:
        from ._celery import make_app, publish
        from ._coordinate import install_redis
        from ._pg import make_pool, migrate
        from ._pg_checkpoints import PgCheckpointStore
        from ._pg_deliveries import Deliveries, owner_id
        from ._pg_history import PgStore
        from ._task import TaskRunner
        from ._worker_admin import AdminListener, WorkerAdmin, WorkerMetrics
        from ._worker_lease import ended_run_reader, lease_from_env

        s = self.settings
        config = s.config
        assert config.broker and config.database and config.redis  # checked by the CLI
        lease = lease_from_env(self.env)
        _quiet_libraries(self._new_log())
        self.catalog = self._load()  # PipelineInvalid: nothing started, the CLI lists it
        admin_sock = bind(s.admin_host, s.admin_port)
        s.home.mkdir(parents=True, exist_ok=True)
        pool = make_pool(
            config.database,
            max_size=s.concurrency + _POOL_SPARE,
            name="worker",
            durability=s.durability,
        )
        self._pool = pool
        try:
            with pool.connection() as conn:
                migrate(conn)
            install_redis(config.redis, log=self.log)
            store = PgStore(pool, warn=lambda m: self.log.warning(m, event="history_off"))
            self._store = store
            deliveries = Deliveries(pool)
            app = make_app(config, self.env)
            metrics = WorkerMetrics()
            runner = TaskRunner(
                deliveries,
                owner=owner_id(),
                lookup=self.lookup,
                recorder=store,
                checkpoints=PgCheckpointStore(pool),
                env=self.env,
                make_log=self._new_log,
                metrics=metrics,
                lease_seconds=lease,
                ended_run=ended_run_reader(pool),
                requeue=lambda id: publish(app, id),
            )
            self._runner = runner
            metrics.watch(runner.running, deliveries.depth)
            _register_task(app, runner)
            admin = AdminListener(WorkerAdmin(metrics, self._health), admin_sock)
            controller = app.WorkController(
                pool_cls="threads",
                concurrency=s.concurrency,
                hostname=f"hookline@{socket.gethostname()}:{os.getpid()}",
                loglevel="WARNING",
                without_heartbeat=True,  # the lease in the database says who is alive
                without_mingle=True,
                without_gossip=True,
            )
            self._controller = controller
            runner.start()
            admin.start()
            self._signals()
            self.log.info(
                f"working on {self.catalog.describe()}; {s.concurrency} run"
                f"{'s' if s.concurrency != 1 else ''} at once; {config.describe()}; health "
                f"and metrics on http://{_host(s.admin_host)}:{admin.port}",
                event="working",
            )
            try:
                controller.start()  # returns after the warm shutdown
            finally:
                runner.close()
                admin.stop()
                store.close()
        finally:
            pool.close()
        self.log.info("stopped", event="stopped")
        return 0

    # --- signals ----------------------------------------------------------------------

    def _signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_reload(self, signum: int, frame: Any) -> None:
        if self._reloading.is_set() or self.stopping:
            return
        self._reloading.set()
        threading.Thread(target=self._reload, name="hookline-reload", daemon=True).start()

    def _reload(self) -> None:
        """SIGHUP: load the pipelines again, as serve does; a set that does not validate
        is refused and the one loaded before goes on. Runs under way keep the pipeline
        they started with; the next claims use the new one."""
        try:
            catalog = self._load()
        except PipelineInvalid as exc:
            count = len(exc.problems)
            self.log.error(
                f"SIGHUP: reload refused ({count} problem{'s' if count != 1 else ''}); the "
                "pipelines loaded before keep running",
                event="reload_refused",
            )
            for problem in exc.problems:
                self.log.info(f"  {problem}", event="problem")
            return
        except Exception as exc:  # a directory gone, unreadable: the old set goes on
            self.log.error(f"SIGHUP: reload refused: {exc}", event="reload_refused")
            return
        finally:
            self._reloading.clear()
        self.catalog = catalog
        self.log.info(f"SIGHUP: reloaded {catalog.describe()}", event="reloaded")

    def _on_stop(self, signum: int, frame: Any) -> None:
        from celery.worker import state

        self._signalled += 1
        self.stopping = True
        name = signal.Signals(signum).name
        state.should_stop = 0  # Celery's warm shutdown: its consumer loop sees this
        runner = self._runner
        if runner is None:
            return
        runner.stop_taking()
        # Logging and waiting happen in a thread: a signal handler must return at once.
        if self._signalled == 1:
            threading.Thread(
                target=self._grace, args=(name,), name="hookline-grace", daemon=True
            ).start()
        else:
            self._hurry.set()

    def _grace(self, name: str) -> None:
        """Give the runs under way ``--grace`` seconds, then stop them and hand them back;
        a run that does not stop (a request under way) is handed back as it is, and the
        process exits without it."""
        runner = self._runner
        grace = self.settings.grace
        self.log.info(
            f"{name}: stopping; runs under way get {grace:g}s to finish, then are handed "
            "back to the queue",
            event="stopping",
        )
        deadline = time.monotonic() + grace
        while runner.running() and time.monotonic() < deadline:
            if self._hurry.wait(0.05):
                break
        why = f"{name} again" if self._hurry.is_set() else f"not finished within {grace:g}s"
        cancelled = runner.cancel_all()
        if cancelled:
            count = len(cancelled)
            self.log.warning(
                f"{count} run{'s' if count != 1 else ''} {why}: stopped and handed back to "
                f"the queue; another worker resumes {'them' if count != 1 else 'it'} from "
                "its checkpoints",
                event="handed_back",
            )
        deadline = time.monotonic() + CANCEL_WAIT
        while runner.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not runner.running():
            return  # Celery's warm shutdown ends; run() returns
        stuck = runner.abandon()
        count = len(stuck)
        self.log.warning(
            f"{count} run{'s' if count != 1 else ''} did not stop within {CANCEL_WAIT:g}s "
            "(a request under way): handed back to the queue as "
            f"{'they are' if count != 1 else 'it is'}; exiting without waiting for "
            f"{'them' if count != 1 else 'it'}",
            event="abandoned",
        )
        # Celery's warm shutdown waits for every task thread, and these do not end:
        # leave without them, once the history and the log are written out.
        with contextlib.suppress(Exception):
            runner.close()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
        self.log.info("stopped", event="stopped")
        self.stream.close()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(0)

    # --- health -----------------------------------------------------------------------

    def _health(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "status": "ok",
            "pipelines": len(self.catalog.pipelines),
            "running": self._runner.running() if self._runner is not None else 0,
        }
        reasons = []
        if self.stopping:
            reasons.append("the worker is stopping")
        broker = _broker_state(self._controller)
        report["broker"] = broker
        if broker != "connected":
            reasons.append(f"broker: {broker}")
        database = _database_state(self._pool)
        report["database"] = database
        if database != "ok":
            reasons.append(f"database: {database}")
        if reasons:
            report["status"] = "stopping" if self.stopping else "unavailable"
            report["reason"] = "; ".join(reasons)
        return report


def _register_task(app: Any, runner: Any) -> None:
    """The ``hookline.run`` task, bound to this worker's runner."""
    from celery.exceptions import Reject

    from . import _task_message as message
    from ._task import HandBack

    def run(task: Any, *args: Any, **kwargs: Any) -> None:
        # Anyone who can write to the broker can send this: checked before the database
        # sees it. Refused: acknowledged, or it would come back for ever.
        delivery_id = message.delivery_id(args, kwargs)
        if delivery_id is None:
            runner.make_log().warning(message.refusal(args, kwargs), event="bad_message")
            return
        info = getattr(task.request, "delivery_info", None) or {}
        try:
            runner.run(delivery_id, redelivered=bool(info.get("redelivered")))
        except HandBack:
            raise Reject(requeue=True) from None

    app.task(
        name="hookline.run",
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
    )(run)


def _quiet_libraries(log: RunLog) -> None:
    handler = _ToOurLog(log)
    for name, level in _LIBRARY_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _broker_state(controller: Any) -> str:
    if controller is None:
        return "not started"
    consumer = getattr(controller, "consumer", None)
    connection = getattr(consumer, "connection", None)
    if connection is None or not getattr(connection, "connected", False):
        return "not connected"
    return "connected"


def _database_state(pool: Any) -> str:
    if pool is None:
        return "not connected"
    try:
        with pool.connection(timeout=_HEALTH_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return f"unreachable ({text[0] if text else type(exc).__name__})"
    return "ok"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
