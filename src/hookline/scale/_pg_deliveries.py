"""The ``deliveries`` table in PostgreSQL: the distributed queue's record.

Celery carries only a delivery's id; this table says what it is and where it stands, so
that a lost message, a dead worker or a restarted broker loses nothing:

- ``serve`` commits each delivery here (``insert_batch``, one transaction for a batch)
  before it answers 2xx, then publishes the id;
- a worker ``claim``s the id (one conditional UPDATE: the row must be due, or running
  under a lease that expired), ``beat``s its lease while it runs, and ``finish``es it;
- the leader's dispatcher re-publishes what is ``due`` and was not published lately: a
  failed publish, a retry whose time came, a row whose worker died.

Times are the database's (``now()``): the machines' clocks never decide a lease. Every
method takes a connection from the pool and commits before it returns (a single
statement in autocommit: one round trip); psycopg's errors
go up as they are (the callers know what a database down means for them).

Statuses are ``serve._queue.DELIVERY_STATUSES``. A row's id is the id of its first run,
as the embedded queue gives at intake; later attempts run under new ids, a resumed run
(its worker died, or was stopped) under its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..serve._intake_store import dumps, new_run_id
from ..serve._queue import Accepted, Delivery, RunOutcome
from ._pg import single
from ._pg_delivery_insert import insert_batch

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = [
    "MAX_TAKEOVERS",
    "OUTPUT_MAX_BYTES",
    "REPUBLISH_SECONDS",
    "Claim",
    "Deliveries",
]

#: Claims in a row that take a delivery over from a worker that died (its lease expired)
#: before the delivery is declared dead: a run that kills its worker (memory, a crash in
#: a library) must not kill every worker in turn for ever. "In a row": an attempt that
#: records an outcome (``finish``: done, a retry, a hand-back) starts the count again, so
#: a long delivery that lives through several deploys is not declared dead for them.
MAX_TAKEOVERS = 5
#: Seconds a claim or a lease renewal waits for a pooled connection: a worker shut out of
#: the database says so (and stops at SIGTERM) within seconds, not after the pool's own
#: wait of a connect plus a statement timeout.
LEASE_WAIT = 5.0
#: The largest run output (JSON, bytes) kept for a sync reply; a larger one is answered
#: without it (the history has the run).
OUTPUT_MAX_BYTES = 1_048_576
#: Seconds after which a row still due is published again although it was published: the
#: broker may have lost the message (a Redis restarted without persistence). A message
#: sent twice is harmless: the second claim finds the row taken and does nothing.
REPUBLISH_SECONDS = 120.0
#: Statuses of a finished delivery.
FINISHED = ("done", "dead", "needs-attention")


@dataclass(frozen=True)
class Claim:
    """A delivery a worker took (the shape of ``serve._intake_claims.Claim``, so that
    ``serve._run_delivery`` runs it the same), with the lease it holds."""

    id: str  # the row's id = its first run's id
    first_run: str  # = id: sync replies wait under this name
    run_id: str  # run it under this id
    pipeline: str
    trigger: str
    input: Any
    attempt: int  # 1 for the delivery's first run; counts every run it had
    tries: int  # runs since it was (re)queued by hand: what the trigger's retry counts
    resume: bool  # a run cut short (its worker died or was stopped): resume it
    owner: str  # the lease holder: host:pid:uuid of the worker
    takeover: bool  # the lease of a worker that died was taken over


class Deliveries:
    """The deliveries table through a ``psycopg_pool.ConnectionPool``."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool.connection() as conn:  # commits on leaving, rolls back on error
            yield conn

    # --- intake -----------------------------------------------------------------------

    def insert(self, delivery: Delivery, *, published: bool = False) -> Accepted:
        """One delivery committed (a duplicate key answers the first's run id). No queue
        limit: for ``replay --queue``, which a person runs."""
        with self._conn() as conn:
            result = insert_batch(conn, [delivery], published=published)[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def unpublished(self, ids: Iterable[str]) -> None:
        """Publishing these failed: the dispatcher publishes them at its next round."""
        with self._conn() as conn:
            conn.execute(
                "UPDATE deliveries SET published_at = NULL WHERE id = ANY(%s)", (list(ids),)
            )

    # --- the worker's side ------------------------------------------------------------

    def claim(self, id: str, owner: str, lease_seconds: float) -> Claim | None:
        """Take delivery ``id`` for ``owner`` for ``lease_seconds``; None when it is not
        to run now: finished, taken by a live lease, or waiting for its retry time (a
        duplicate or early message: acknowledge it and do nothing).

        One statement: the row is due (queued, or retry-wait whose time came) or running
        under an expired lease (its worker died: the run resumes from its checkpoints).
        A first claim runs under the row's id, a later attempt under a new id, a resumed
        run under its own. A delivery taken over more than MAX_TAKEOVERS times is marked
        dead instead (the error says why) and None is returned."""
        # One statement, its own transaction (autocommit): one round trip, not three.
        with single(self.pool, LEASE_WAIT) as conn:
            row = conn.execute(
                _CLAIM,
                {"id": id, "owner": owner, "lease": lease_seconds, "new": new_run_id()},
            ).fetchone()
            if row is None:
                return None
            (rid, pipeline, trigger, value, run_id, attempts, base, was, resumed, takeovers) = row
            if takeovers > MAX_TAKEOVERS:  # rare: a second statement, under our lease
                conn.execute(
                    "UPDATE deliveries SET status = 'dead', error = %s, lease_owner = NULL,"
                    " lease_until = NULL, finished_at = now(), updated_at = now()"
                    " WHERE id = %s AND lease_owner = %s",
                    (
                        f"its worker stopped without a word {takeovers - 1} times in a row "
                        "while running it (killed, or out of memory); replay it once the "
                        "cause is fixed",
                        rid,
                        owner,
                    ),
                )
                return None
        resume = was == "running" or resumed is not None
        return Claim(
            id=rid,
            first_run=rid,
            run_id=run_id,
            pipeline=pipeline,
            trigger=trigger,
            input=value,
            attempt=attempts,
            tries=attempts - base,
            resume=resume,
            owner=owner,
            takeover=was == "running",
        )

    def unclaim(self, claim: Claim) -> bool:
        """Give a claim back before running it (no free slot for its pipeline): the row
        is queued again as it was, the attempt not counted."""
        with self._conn() as conn:
            changed = conn.execute(
                "UPDATE deliveries SET status = 'queued', lease_owner = NULL,"
                " lease_until = NULL, published_at = NULL, updated_at = now(),"
                " attempts = attempts - %(counted)s, resume_run = %(resume)s,"
                " takeovers = takeovers - %(took)s"
                " WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s",
                {
                    "id": claim.id,
                    "owner": claim.owner,
                    "counted": 0 if claim.resume else 1,
                    "resume": claim.run_id if claim.resume else None,
                    "took": 1 if claim.takeover else 0,
                },
            ).rowcount
            if changed and not claim.resume:
                conn.execute("DELETE FROM delivery_runs WHERE run_id = %s", (claim.run_id,))
        return bool(changed)

    def beat(self, ids: Iterable[str], owner: str, lease_seconds: float) -> set[str]:
        """Extend ``owner``'s leases on ``ids``; the ids it still holds (a missing one was
        taken over: this worker paused past its lease, and must not record its end)."""
        wanted = list(ids)
        if not wanted:
            return set()
        with single(self.pool, LEASE_WAIT) as conn:
            found = conn.execute(
                "UPDATE deliveries SET lease_until = now() + make_interval(secs => %s)"
                " WHERE id = ANY(%s) AND status = 'running' AND lease_owner = %s RETURNING id",
                (lease_seconds, wanted, owner),
            ).fetchall()
        return {row[0] for row in found}

    def finish(
        self,
        claim: Claim,
        status: str,
        *,
        error: str | None = None,
        retry_at: float | None = None,
        retry_in: float | None = None,
        run_status: str | None = None,
        run_id: str | None = None,
        outcome: str | None = None,
        output: Any = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> bool:
        """Record where the delivery stands after its run, if ``claim.owner`` still holds
        it (False: another worker took it over; nothing written).

        ``status``: ``done``, ``retry-wait`` (at ``retry_in`` seconds from now by the
        database's clock, or at the epoch time ``retry_at``), ``dead``,
        ``needs-attention``, or ``queued`` (handed back: the run resumes from its
        checkpoints on the next claim). ``run_status`` rewrites the run's own status in
        the history (``dead``, ``needs-attention``), in the same transaction.
        ``outcome`` and ``output``: what a sync reply reports (the run's status, its
        output; an output over OUTPUT_MAX_BYTES is left out). ``conn``: write in the
        caller's transaction (with the run's final record: one commit instead of two)."""
        ran = run_id or claim.run_id
        text = None
        if output is not None:
            try:
                text = dumps(output)
            except (TypeError, ValueError):
                text = None
            if text is not None and len(text) > OUTPUT_MAX_BYTES:
                text = None
        params = {
            "id": claim.id,
            "owner": claim.owner,
            "status": status,
            "error": error,
            "retry_in": retry_in if status == "retry-wait" else None,
            "retry_at": retry_at if retry_in is None and status == "retry-wait" else None,
            "resume": ran if status == "queued" else None,
            "finished": status in FINISHED,
            "run_status": outcome or run_status,
            "output": text,
        }
        if conn is not None:
            return _finish(conn, params, ran, run_status, error)
        if run_status is None:  # one statement: its own transaction, one round trip
            with single(self.pool) as own:
                return _finish(own, params, ran, run_status, error)
        with self._conn() as own:
            return _finish(own, params, ran, run_status, error)

    # --- the dispatcher's side --------------------------------------------------------

    def due(self, limit: int = 500, republish: float = REPUBLISH_SECONDS) -> list[tuple[str, str]]:
        """Up to ``limit`` deliveries to publish now, marked published, each with why:

        - ``unpublished``: never published, or its publish failed;
        - ``retry``: a retry whose time came;
        - ``lost``: running under a lease that expired (its worker died);
        - ``republish``: due, and not published for ``republish`` seconds (the broker may
          have lost the message).

        Rows another dispatcher is marking are skipped, not waited for."""
        with self._conn() as conn:
            found = conn.execute(_DUE, {"limit": limit, "republish": republish}).fetchall()
        return [(row[0], row[1]) for row in found]

    # --- reading ----------------------------------------------------------------------

    def depth(self) -> int:
        """Deliveries queued or waiting for a retry (not running)."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'retry-wait')"
            ).fetchone()
        return int(row[0]) if row else 0

    def running(self) -> int:
        """Deliveries a worker runs now (leases may have expired: a worker died)."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'running'"
            ).fetchone()
        return int(row[0]) if row else 0

    def active(self, pipeline: str) -> int:
        """Queued, waiting and running deliveries of ``pipeline``."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE pipeline = %s"
                " AND status IN ('queued', 'retry-wait', 'running')",
                (pipeline,),
            ).fetchone()
        return int(row[0]) if row else 0

    def outcome(self, run_id: str) -> RunOutcome | None:
        """How the delivery first run as ``run_id`` ended; None while it has not."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT status, run_status, output, error FROM deliveries WHERE id = %s",
                (run_id,),
            ).fetchone()
        if row is None or row[0] not in FINISHED:
            return None
        status, run_status, output, error = row
        return RunOutcome(run_status or status, output, error)

    def get(self, id: str) -> dict[str, Any] | None:
        """The row ``id`` as a dict (tests, replay, ``hookline runs``)."""
        with self._conn() as conn:
            cur = conn.execute("SELECT * FROM deliveries WHERE id = %s", (id,))
            row = cur.fetchone()
            names = [c.name for c in cur.description or ()]
        return dict(zip(names, row, strict=True)) if row is not None else None

    def forget_done(self, days: float, batch: int = 1000) -> int:
        """Delete deliveries done more than ``days`` ago (their key with them: a key is a
        duplicate only while its delivery is kept), ``batch`` per transaction."""
        total = 0
        while True:
            with self._conn() as conn:
                count = conn.execute(
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
                    " WHERE status = 'done' AND finished_at < now() - make_interval(days => %s)"
                    " LIMIT %s)",
                    (days, batch),
                ).rowcount
            total += count
            if count < batch:
                return total


def _finish(
    conn: psycopg.Connection[Any],
    params: dict[str, Any],
    run_id: str,
    run_status: str | None,
    error: str | None,
) -> bool:
    # RETURNING and a fetch, not rowcount: in a pipeline (the run's final transaction) a
    # rowcount is unknown until the results come back, and a fetch is what brings them.
    changed = len(conn.execute(_FINISH, params).fetchall())
    if changed and run_status is not None:
        _rewrite_run(conn, run_id, run_status, error)
    return bool(changed)


def _rewrite_run(
    conn: psycopg.Connection[Any], run_id: str, status: str, error: str | None
) -> None:
    # The history's own table (migration 0001), as the embedded queue rewrites its run.
    conn.execute(
        "UPDATE runs SET status = %s, error = coalesce(%s, error) WHERE id = %s",
        (status, error, run_id),
    )


# One round trip per claim: lock the row, read what it was, update it if due, note the run.
_CLAIM = """
WITH old AS (
    SELECT id, status, resume_run FROM deliveries WHERE id = %(id)s FOR UPDATE
), claimed AS (
    UPDATE deliveries d SET
        status = 'running',
        lease_owner = %(owner)s,
        lease_until = now() + make_interval(secs => %(lease)s),
        run_id = CASE
            WHEN old.status = 'running' THEN d.run_id
            WHEN old.resume_run IS NOT NULL THEN old.resume_run
            WHEN d.attempts = 0 THEN d.id
            ELSE %(new)s END,
        attempts = d.attempts
            + CASE WHEN old.status = 'running' OR old.resume_run IS NOT NULL THEN 0 ELSE 1 END,
        takeovers = d.takeovers + CASE WHEN old.status = 'running' THEN 1 ELSE 0 END,
        resume_run = NULL,
        next_attempt_at = NULL,
        error = NULL,
        updated_at = now()
    FROM old
    WHERE d.id = old.id AND (
        d.status = 'queued'
        OR (d.status = 'retry-wait' AND d.next_attempt_at <= now())
        OR (d.status = 'running' AND d.lease_until < now()))
    RETURNING d.id, d.pipeline, d.trigger, d.input, d.run_id, d.attempts, d.retry_base,
        old.status, old.resume_run, d.takeovers
), noted AS (
    INSERT INTO delivery_runs (run_id, delivery, attempt)
    SELECT run_id, id, attempts FROM claimed
    ON CONFLICT (run_id) DO NOTHING
)
SELECT * FROM claimed
"""

_FINISH = """
UPDATE deliveries SET
    status = %(status)s,
    error = %(error)s,
    next_attempt_at = CASE
        WHEN %(retry_in)s::float8 IS NOT NULL THEN now() + make_interval(secs => %(retry_in)s)
        WHEN %(retry_at)s::float8 IS NOT NULL THEN to_timestamp(%(retry_at)s)
        END,
    resume_run = %(resume)s,
    lease_owner = NULL,
    lease_until = NULL,
    takeovers = 0,
    published_at = NULL,
    run_status = CASE WHEN %(finished)s THEN %(run_status)s END,
    output = CASE WHEN %(finished)s THEN %(output)s::json END,
    finished_at = CASE WHEN %(finished)s THEN now() END,
    updated_at = now()
WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s
RETURNING 1
"""

_DUE = """
WITH picked AS (
    SELECT id, status, published_at FROM deliveries
    WHERE status IN ('queued', 'retry-wait', 'running') AND (
        (status = 'queued' AND (published_at IS NULL
            OR published_at < now() - make_interval(secs => %(republish)s)))
        OR (status = 'retry-wait' AND next_attempt_at <= now() AND (published_at IS NULL
            OR published_at < next_attempt_at
            OR published_at < now() - make_interval(secs => %(republish)s)))
        OR (status = 'running' AND lease_until < now() AND (published_at IS NULL
            OR published_at < lease_until
            OR published_at < now() - make_interval(secs => %(republish)s))))
    ORDER BY received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET published_at = now() FROM picked WHERE d.id = picked.id
RETURNING d.id, CASE
    WHEN picked.status = 'running' THEN 'lost'
    WHEN picked.status = 'retry-wait' THEN 'retry'
    WHEN picked.published_at IS NULL THEN 'unpublished'
    ELSE 'republish' END
"""


def owner_id() -> str:
    """A lease owner's name: host, pid and a random part (a pid is reused)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
