"""Checkpoints in PostgreSQL: the ``CheckpointStore`` interface of ``_checkpoint``, so a
run redelivered to another worker resumes exactly as an embedded one does (finished
steps reused, a safe started step redone, an unsafe one cut mid-way: needs-attention).

    store = PgCheckpointStore(pool_or_url)
    marks = store.for_run(run_id)      # the engine's ``checkpoint=``
    store.unfinished(); store.close()

Every write is committed before it returns (a worker killed right after a step finished
must not redo it). The results are NOT redacted: a resumed run needs them as they were.
They live in the operator's database only while the run is unfinished.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .._checkpoint import CheckpointFailed, Mark, plain_json
from ._config import masked
from ._pg import describe, make_pool, migrate, pool_where, single

__all__ = ["PgCheckpointStore", "PgCheckpoints"]


class PgCheckpointStore:
    """The ``checkpoints`` table of one PostgreSQL database, shared by every thread.

    A URL opens a pool of its own (closed by ``close``) and migrates the database; a
    pool given is the caller's, its database migrated by the caller."""

    def __init__(self, target: str | ConnectionPool) -> None:
        self._own = isinstance(target, str)
        self.pool = make_pool(target, max_size=4) if isinstance(target, str) else target
        if self._own:
            try:
                with self.pool.connection() as conn:
                    migrate(conn)
            except BaseException:
                self.pool.close()
                raise
        self.where = masked(target) if isinstance(target, str) else pool_where(self.pool)

    def for_run(self, run_id: str, *, fresh: bool = False) -> PgCheckpoints:
        """``fresh``: the caller knows the run never ran before (a worker's first claim of
        it): there is nothing to load, and ``load`` asks the database nothing."""
        return PgCheckpoints(self, run_id, fresh=fresh)

    def unfinished(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT DISTINCT run_id FROM checkpoints ORDER BY run_id")
            return [row[0] for row in rows]

    def close(self) -> None:
        if self._own:
            self.pool.close()

    def __enter__(self) -> PgCheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PgCheckpoints:
    """The checkpoints of one run (``_checkpoint.Checkpoints``)."""

    def __init__(self, store: PgCheckpointStore, run_id: str, *, fresh: bool = False) -> None:
        self.store = store
        self.run_id = run_id
        self._fresh = fresh
        self._cleared = False  # by ``clear_in``: the run's end removed them already

    def load(self) -> dict[int, Mark]:
        if self._fresh:  # a new run id: no attempt of it recorded anything
            return {}
        try:
            with single(self.store.pool) as conn:
                rows = conn.execute(
                    "SELECT idx, step_id, digest, phase, safe, why, result FROM checkpoints"
                    " WHERE run_id = %s ORDER BY idx",
                    (self.run_id,),
                ).fetchall()
        except psycopg.Error as exc:
            raise CheckpointFailed(
                f"cannot read the run's checkpoints in {self.store.where}: {describe(exc)}"
            ) from exc
        marks = {}
        for idx, step_id, digest, phase, safe, why, result in rows:
            value = json.loads(result) if result is not None else None
            marks[idx] = Mark(idx, step_id, digest, phase, bool(safe), why or "", value)
        return marks

    def started(self, index: int, step_id: str, digest: str, safe: bool, why: str) -> None:
        self._write(
            step_id,
            "INSERT INTO checkpoints (run_id, idx, step_id, digest, phase, safe, why)"
            " VALUES (%s, %s, %s, %s, 'started', %s, %s) ON CONFLICT (run_id, idx) DO UPDATE"
            " SET step_id = excluded.step_id, digest = excluded.digest, phase = 'started',"
            " safe = excluded.safe, why = excluded.why, result = NULL",
            (self.run_id, index, step_id, digest, safe, why),
        )

    def finished(self, index: int, step_id: str, digest: str, result: Any) -> None:
        self._write(
            step_id,
            "INSERT INTO checkpoints (run_id, idx, step_id, digest, phase, safe, why, result)"
            " VALUES (%s, %s, %s, %s, 'finished', true, NULL, %s) ON CONFLICT (run_id, idx)"
            " DO UPDATE SET step_id = excluded.step_id, digest = excluded.digest,"
            " phase = 'finished', safe = true, why = NULL, result = excluded.result",
            (self.run_id, index, step_id, digest, plain_json(result)),
        )

    def clear(self) -> None:
        """Best effort, as in the embedded store: a finished run is never resumed."""
        if self._cleared:
            return
        with contextlib.suppress(psycopg.Error), single(self.store.pool) as conn:
            conn.execute("DELETE FROM checkpoints WHERE run_id = %s", (self.run_id,))

    def clear_in(self, conn: psycopg.Connection[Any]) -> None:
        """Remove them in the caller's transaction (the worker's: with the run's final
        record and its delivery's outcome); once it committed, ``removed()``."""
        conn.execute("DELETE FROM checkpoints WHERE run_id = %s", (self.run_id,))

    def removed(self) -> None:
        """``clear_in``'s transaction committed: ``clear`` has nothing left to do."""
        self._cleared = True

    def _write(self, step_id: str, sql: str, args: tuple[Any, ...]) -> None:
        try:
            with single(self.store.pool) as conn:
                conn.execute(sql, args)
        except psycopg.Error as exc:
            raise CheckpointFailed(
                f"cannot record the checkpoint of step '{step_id}' in {self.store.where}: "
                f"{describe(exc)}"
            ) from exc
