"""The run history in PostgreSQL: ``PgStore``, the same Recorder as ``_store.Store``.

    store = PgStore(url_or_pool, warn=print)       # migrates the database first
    store.run_started(...); store.step_attempt(...); store.run_finished(..., commit=)
    store.state_backend()                          # where the run's state lives (PG)
    store.close()                                  # or: with PgStore(...) as store:

A run's start and its final status are written at once; its step, iteration and request
records go through one writer thread (``_history_writer.Writer``, the same loss window:
``BATCH_SECONDS``) and are written with COPY, one transaction per batch, so a loop of
20,000 requests is not 20,000 commits. The final status is written only after every
record of the run is.

``run_finished(..., commit=action)`` runs ``action(conn)`` (a pipeline's state update,
see ``_pg_state``) and the final record in one transaction: both are written or neither
is, and then it raises (what ``action`` raised, or ``HistoryOff``).

``then(run_id, action)``: the worker's writes at a run's end (its delivery's outcome, the
checkpoints' removal) go in the transaction of the run's final record when the run
succeeded: ``action(conn, output)``, which returns what to call once that transaction
committed. One commit instead of three. For any other end, or when that transaction
fails, the action is dropped, nothing is called, and the caller writes them itself.

Liveness: while runs are live, a thread stamps them with the database's clock every
sixth of the stale time. A run still ``running`` whose stamp is older than the stale
time (``HOOKLINE_HISTORY_STALE_SECONDS``, default ``STALE_SECONDS``: 60 s, so a stamp
every 10 s) is shown ``lost``: the heartbeat's age alone decides, since a pid cannot be
checked across machines. A store that starts marks such runs lost.

The history is the record of a run, not its result: a database that fails costs a
warning on stderr (at most one a minute), the records of that moment are lost, and the
run goes on. A pool given by the caller is the caller's to close.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .._errors import UsageError
from .._history_json import history_json
from .._history_writer import Writer
from .._model import Pipeline
from .._store import HistoryOff
from .._store_queue import RecordQueue
from .._store_rows import RESULT_LIMIT
from .._store_schema import STALE_SECONDS, host
from ._config import masked
from ._pg import PgUnavailable, describe, make_pool, migrate, pool_where, single
from ._pg_history_rows import COLUMNS, RowMaker
from ._pg_text import plain

__all__ = ["STALE_SECONDS", "WARN_EVERY", "PgStore", "stale_seconds"]

#: Seconds between two warnings of a failing database (the first is given at once).
WARN_EVERY = 60.0
STALE_ENV = "HOOKLINE_HISTORY_STALE_SECONDS"


def stale_seconds(env: Mapping[str, str] | None = None) -> float:
    """The age (seconds) past which a running run's silent process is taken for dead:
    HOOKLINE_HISTORY_STALE_SECONDS, else STALE_SECONDS (60). Its heartbeat beats at a
    sixth of it."""
    text = (os.environ if env is None else env).get(STALE_ENV, "").strip()
    if not text:
        return STALE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{STALE_ENV}={text!r}: expected a number of seconds > 0")
    return value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _warn_stderr(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)


#: The worker's writes at a run's end: ``action(conn, output)`` -> called once committed.
Then = Callable[[psycopg.Connection[Any], Any], Callable[[], None]]

_EPOCH = "extract(epoch from clock_timestamp())"
_COLUMNS = ", ".join(COLUMNS)
_INSERT = (
    f"INSERT INTO run_records ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    " ON CONFLICT (run_id, seq) DO NOTHING"
)


class PgStore(RecordQueue):
    """The run history in PostgreSQL, shared by every run of a process (thread-safe).

    ``target``: a URL (the store opens its own pool, and closes it) or a pool.
    """

    def __init__(
        self,
        target: str | ConnectionPool,
        *,
        warn: Callable[[str], None] = _warn_stderr,
        stale: float | None = None,
        pool_size: int = 4,
    ) -> None:
        self._warn_to = warn
        self.stale_seconds = stale_seconds() if stale is None else stale
        self._heartbeat_seconds = self.stale_seconds / 6
        self._lock = threading.Lock()
        self._last_warning = -WARN_EVERY
        self._seq: dict[str, Iterator[int]] = {}
        self._written: set[str] = set()  # runs whose start row exists (records need it)
        self._then: dict[str, Then] = {}
        self._started: dict[str, float] = {}
        self._live: set[str] = set()
        self._local = threading.local()
        self._writer: Writer | None = None
        self._rows = RowMaker()
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None
        self._own = isinstance(target, str)
        self._pool: ConnectionPool | None = None
        self.where = masked(target) if isinstance(target, str) else pool_where(target)
        try:
            pool = make_pool(target, max_size=pool_size) if isinstance(target, str) else target
            self._pool = pool
            with pool.connection() as conn:
                migrate(conn)
                self._close_lost_runs(conn)
        except (PgUnavailable, psycopg.Error) as exc:
            if self._own and self._pool is not None:
                self._pool.close()
            self._pool = None
            reason = str(exc) if isinstance(exc, PgUnavailable) else describe(exc)
            warn(f"run history off: {reason}; the run goes on and its output is not affected")
        # RecordQueue queues records only while ``_db`` is set.
        self._db: Any = self._pool

    @property
    def enabled(self) -> bool:
        """False when the database could not be opened: no history is kept."""
        return self._pool is not None

    @property
    def pool(self) -> ConnectionPool:
        """The pool (for the state and checkpoint stores of the same database)."""
        if self._pool is None:
            raise HistoryOff(f"the run history in {self.where} is off")
        return self._pool

    def state_backend(self) -> Any:
        """Where the runs recorded here keep their pipeline state (``_state_run``)."""
        from ._pg_state import PgStateStore

        return PgStateStore(self.pool, where=self.where)

    # --- failures -----------------------------------------------------------------

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning < WARN_EVERY:
                return
            self._last_warning = now
        self._warn_to(
            f"run history: cannot write to {self.where}: {describe(exc)}; the run goes on "
            "and its output is not affected (records of this moment are lost)"
        )

    def _execute(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """One statement in its own transaction; None (and a warning) when it failed."""
        pool = self._pool
        if pool is None:
            return None
        try:
            with single(pool) as conn:
                cursor = conn.execute(sql, args)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            self._warn(exc)
            return None

    def _close_lost_runs(self, conn: psycopg.Connection[Any]) -> None:
        """Mark the runs whose process stopped beating as lost (one statement)."""
        conn.execute(
            "UPDATE runs SET status = 'lost', error = 'lost: no sign of life from its process'"
            " || coalesce(' (pid ' || pid || ' on ' || host || ')', '') || ' for '"
            f" || round({_EPOCH} - heartbeat_at) || 's'"
            f" WHERE status = 'running' AND heartbeat_at < {_EPOCH} - %s",
            (self.stale_seconds,),
        )

    # --- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop(60)
        self._stop.set()
        heart = self._heart
        if heart is not None and heart is not threading.current_thread():
            heart.join(timeout=10)
        pool, self._pool = self._pool, None
        self._db = None
        if pool is not None and self._own:
            pool.close()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what RecordQueue needs ---------------------------------------------------

    def _ref(self, run_id: str) -> int | str:
        return run_id

    def _next(self, run_id: str) -> int:
        counter = self._seq.get(run_id)
        if counter is None:
            counter = self._seq.setdefault(run_id, itertools.count(1))
        return next(counter)

    def _queue(self, record: tuple[Any, ...], size: int) -> None:
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None and self._pool is not None:
                    self._writer = Writer(self._write_batch)
                writer = self._writer
        if writer is not None:
            writer.put(record, size)

    def _write_batch(self, batch: list[tuple[Any, ...]]) -> None:
        """In the writer thread: one COPY, one transaction. Never raises."""
        pool = self._pool
        if pool is None:
            return
        try:
            rows = [self._rows.row(r) for r in batch if r[1] in self._written]
            if not rows:
                return
            try:
                with (
                    pool.connection() as conn,
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY run_records ({_COLUMNS}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
            except psycopg.errors.UniqueViolation:
                # Two processes ran the same run at once (a lease taken over from a worker
                # that was only slow): keep what each can add, row by row.
                with pool.connection() as conn, conn.cursor() as cursor:
                    cursor.executemany(_INSERT, rows)
        except psycopg.Error as exc:
            self._warn(exc)
        except Exception as exc:  # a bug must not leave the run waiting on a dead writer
            self._warn(exc)

    def flush(self) -> None:
        """Wait until every batched record is written (or given up)."""
        writer = self._writer
        if writer is not None:
            writer.flush(60)

    # --- heartbeat ----------------------------------------------------------------

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_seconds):
            with self._lock:
                ids = sorted(self._live)
            if ids:
                # A run a reader took for lost while this process was stalled is taken back.
                self._execute(
                    f"UPDATE runs SET heartbeat_at = {_EPOCH}, status = 'running', error = NULL"
                    " WHERE id = ANY(%s) AND status IN ('running', 'lost')",
                    (ids,),
                )

    def _start_heart(self) -> None:
        with self._lock:
            if self._heart is None and self._pool is not None:
                self._heart = threading.Thread(
                    target=self._beat, name="hookline-pg-heartbeat", daemon=True
                )
                self._heart.start()

    # --- Recorder -----------------------------------------------------------------

    def then(self, run_id: str, action: Then) -> None:
        """Run ``action(conn, output)`` in the transaction of the final record of
        ``run_id`` if it succeeded, and what it returns once that committed (see the
        module docstring); once, then forgotten."""
        with self._lock:
            self._then[run_id] = action

    def forget_then(self, run_id: str) -> None:
        with self._lock:
            self._then.pop(run_id, None)

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        self._started[run_id] = time.monotonic()
        with self._lock:
            self._live.add(run_id)
        found = self._execute(
            "INSERT INTO runs (id, pipeline, file, digest, trigger, input, status, started_at,"
            f" pid, host, heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s, 'running', %s, %s, %s,"
            f" {_EPOCH})"
            # A run resumed after a crash keeps its id: its record is running again, here.
            " ON CONFLICT (id) DO UPDATE SET status = 'running', finished_at = NULL,"
            " duration_ms = NULL, output = NULL, error = NULL, pid = excluded.pid,"
            " host = excluded.host, heartbeat_at = excluded.heartbeat_at"
            " RETURNING (SELECT max(seq) FROM run_records WHERE run_id = %s)",
            (
                run_id,
                plain(pipeline.name),
                plain(str(pipeline.file)),
                pipeline.digest,
                plain(trigger),
                plain(history_json(input, RESULT_LIMIT)),
                _now(),
                os.getpid(),
                plain(host()),
                run_id,
            ),
        )
        if found:
            self._written.add(run_id)
            last = found[0][0]
            if last:  # resumed: its records go on after those already kept
                self._seq[run_id] = itertools.count(int(last) + 1)
        self._start_heart()

    def run_finished(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        *,
        commit: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        """Write the run's final record; with ``commit``, in one transaction with it."""
        started = self._started.pop(run_id, None)
        self.flush()
        try:
            self._final_record(run_id, status, output, error, started, commit)
        except BaseException:
            if started is not None:
                self._started[run_id] = started
            raise
        with self._lock:
            self._live.discard(run_id)
        self._seq.pop(run_id, None)
        self._written.discard(run_id)

    def _final_record(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        started: float | None,
        commit: Callable[[psycopg.Connection[Any]], None] | None,
    ) -> None:
        sql = (
            "UPDATE runs SET status = %s, finished_at = %s, duration_ms = %s, output = %s,"
            f" error = %s, heartbeat_at = {_EPOCH} WHERE id = %s"
        )
        args = (
            status,
            _now(),
            round((time.monotonic() - started) * 1000, 1) if started else None,
            plain(history_json(output, RESULT_LIMIT)),
            plain(error),
            run_id,
        )
        with self._lock:
            then = self._then.pop(run_id, None) if status == "succeeded" else None
        if commit is None and then is None:
            self._execute(sql, args)
            return
        pool = self._pool
        if pool is None:
            if commit is None:
                return  # the history is off: the caller writes its own end
            raise HistoryOff(f"the run history in {self.where} is off for this run")
        committed: Callable[[], None] | None = None
        try:
            with pool.connection() as conn, contextlib.ExitStack() as stack:
                if commit is None:
                    # The final record and the worker's writes need no answer before the
                    # next is sent: a pipeline sends them at once (two round trips: the
                    # statements, then COMMIT).
                    stack.enter_context(conn.pipeline())
                stack.enter_context(conn.transaction())
                if commit is not None:
                    commit(conn)
                conn.execute(sql, args)
                if then is not None:
                    committed = then(conn, output)
            if committed is not None:
                committed()
        except psycopg.Error as exc:
            self._warn(exc)
            if commit is None:  # the caller, not told, writes its own end
                return
            raise HistoryOff(f"the run history in {self.where} failed: {describe(exc)}") from exc


@contextlib.contextmanager
def opened(url: str, **kwargs: Any) -> Iterator[PgStore]:
    """A store for one command (``run-pipeline``), closed at the end."""
    store = PgStore(url, **kwargs)
    try:
        yield store
    finally:
        store.close()
