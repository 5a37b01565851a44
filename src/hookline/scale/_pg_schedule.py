"""The leader's scheduler and poller in distributed mode: their marks in PostgreSQL.

On one machine ``hookline serve`` keeps each schedule's last fire (``schedule_fires``)
and each poll's baseline (``poll_baseline``, ``poll_polls``) in its SQLite file. With
several ``serve`` instances only the leader (``_leader.Leader``) fires and polls, and it
keeps them in PostgreSQL (migration 0005), so that the next leader continues where the
last stopped: fires missed in between follow the ``missed:`` policy, a poll compares
with the last committed baseline.

Two guards make "once" hold even for the instant when two instances both believe they
lead (a leader paused past its lease):

- a fire's delivery key (``schedule:<minute>``) is unique per pipeline in the deliveries
  table: the second submit of a minute is acknowledged as a duplicate and runs nothing;
- every write carries the writer's fencing token (its term): a mark or a baseline
  written by a newer term is never overwritten by an older one (``StaleLeader``).

The terms come from a PostgreSQL sequence (``next_term``, migration 0006), taken by the
``Leader`` each time it wins the lease: a counter in Redis would start again at 1 when
Redis loses its data (a restart without persistence, a failover), below the terms these
tables hold, and the new leader's every write would be refused. A write refused as stale
makes its instance step down (``Leader.resign``) and bid again: if it still wins, it does
so with a new, greater term.

psycopg's errors reach the callers as they are: the scheduler logs a mark it could not
write (a warning) and the poller a baseline (a failed poll), and both go on.

The wiring (``scale/_serve.Distributed``) calls ``leader_scheduler`` and
``leader_poller``; both give the serve classes of the embedded mode with a leader gate
and these stores, so the rules (overlap, missed fires, one poll at a time) are one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from psycopg_pool import ConnectionPool

if TYPE_CHECKING:
    from ..serve._poller import Poller
    from ..serve._queue import Intake
    from ..serve._scheduler import Clock, Scheduler
    from ..triggers.poll_store import PollStore
    from ._leader import Leader

__all__ = [
    "PgPollStore",
    "PgScheduleMarks",
    "StaleLeader",
    "leader_poller",
    "leader_scheduler",
    "next_term",
]

Fence = Callable[[], "int | None"]
#: Told ``(term, why)`` when a write of ``term`` was refused as stale.
OnStale = Callable[[int, str], None]


class StaleLeader(Exception):
    """A write refused: a newer leader has written since (or this one no longer leads)."""


#: Seconds a new leader waits for the database to give it a term; it holds the lease
#: meanwhile, so this is short: an instance that cannot reach the database gives the
#: lease back soon, to one that can.
TERM_TIMEOUT = 2.0


def next_term(pool: ConnectionPool, *, timeout: float = TERM_TIMEOUT) -> int:
    """A new fencing term, greater than every term taken before (a sequence: Redis
    losing its data cannot make it go back)."""
    with pool.connection(timeout=timeout) as conn:
        row = conn.execute("SELECT nextval('hookline_leader_term')").fetchone()
    assert row is not None
    return int(row[0])


def _refused(on_stale: OnStale | None, term: int, why: str) -> StaleLeader:
    if on_stale is not None:
        on_stale(term, why)
    return StaleLeader(why)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(data: bytes | memoryview) -> str:
    return bytes(data).decode("utf-8", "surrogatepass")


class PgScheduleMarks:
    """Each schedule's last fire, in ``schedule_fires`` (the scheduler's ``Marks``)."""

    def __init__(
        self, pool: ConnectionPool, *, fence: Fence | None = None, on_stale: OnStale | None = None
    ) -> None:
        self.pool = pool
        self.fence = fence or (lambda: 0)
        self.on_stale = on_stale

    def open(self) -> None:
        return None  # the pool is the service's; the table is the migration's

    def close(self) -> None:
        return None

    def last_fires(self) -> dict[str, float]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT pipeline, last_fire FROM schedule_fires").fetchall()
        return {str(name): float(at) for name, at in rows}

    def record(self, fires: Sequence[tuple[str, float]]) -> None:
        """Remember each pipeline's last fire, in one transaction; a mark only moves
        forward, and never over one a newer leader wrote (``StaleLeader`` then: the
        marks of that tick are the newer leader's to write)."""
        term = self.fence()
        if not fires or term is None:
            return  # no longer leading: the new leader records its own
        latest: dict[str, float] = {}
        for name, at in fires:
            latest[name] = max(at, latest.get(name, at))
        names = sorted(latest)
        with self.pool.connection() as conn:
            written = conn.execute(
                "INSERT INTO schedule_fires (pipeline, last_fire, term)"
                " SELECT name, at, %s FROM unnest(%s::text[], %s::float8[]) AS f (name, at)"
                " ON CONFLICT (pipeline) DO UPDATE SET"
                " last_fire = GREATEST(schedule_fires.last_fire, excluded.last_fire),"
                " term = excluded.term, recorded_at = now()"
                " WHERE schedule_fires.term <= excluded.term"
                " RETURNING pipeline",
                (term, names, [latest[n] for n in names]),
            ).fetchall()
            if len(written) == len(names):
                return
            row = conn.execute(
                "SELECT max(term) FROM schedule_fires WHERE pipeline = ANY(%s)", (names,)
            ).fetchone()
        newer = row[0] if row is not None else None
        raise _refused(
            self.on_stale,
            term,
            f"a newer leader (term {newer}) recorded the schedules' last fires; "
            f"this instance's (term {term}) are dropped",
        )


class PgPollStore:
    """The poll baselines in PostgreSQL, with ``triggers.poll_store.PollStore``'s
    interface (``load``, ``commit``, ``forget``, ``close``).

    ``commit`` writes only the difference from what ``load`` gave, as the SQLite store
    does, unless the stored baseline changed since that load (another leader's poll
    committed in between): then it rewrites the whole baseline, so the result is exactly
    ``after``. A commit whose term is older than the stored one is refused.
    """

    def __init__(
        self, pool: ConnectionPool, *, fence: Fence | None = None, on_stale: OnStale | None = None
    ) -> None:
        self.pool = pool
        self.fence = fence or (lambda: 0)
        self.on_stale = on_stale
        self._versions: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        return None

    def load(self, pipeline: str) -> dict[str, str] | None:
        """The pipeline's baseline (id -> marker), or None when no poll has committed."""
        with self.pool.connection() as conn:
            head = conn.execute(
                "SELECT version FROM poll_polls WHERE pipeline = %s", (pipeline,)
            ).fetchone()
            rows = (
                conn.execute(
                    "SELECT id, marker FROM poll_baseline WHERE pipeline = %s", (pipeline,)
                ).fetchall()
                if head is not None
                else []
            )
        with self._lock:
            self._versions[pipeline] = None if head is None else int(head[0])
        if head is None:
            return None
        return {_text(ident): _text(marker) for ident, marker in rows}

    def commit(
        self, pipeline: str, before: Mapping[str, str] | None, after: Mapping[str, str]
    ) -> None:
        """Replace the baseline ``before`` (as ``load`` gave it) by ``after``."""
        term = self.fence()
        if term is None:
            raise StaleLeader(
                "this instance no longer leads: the baseline is left to the leader's next poll"
            )
        with self._lock:
            loaded = self._versions.get(pipeline)
        try:
            version = self._write(pipeline, before, after, term=term, loaded=loaded)
        except StaleLeader as exc:  # told once the row lock is given back
            if self.on_stale is not None:
                self.on_stale(term, str(exc))
            raise
        with self._lock:
            self._versions[pipeline] = version

    def _write(
        self,
        pipeline: str,
        before: Mapping[str, str] | None,
        after: Mapping[str, str],
        *,
        term: int,
        loaded: int | None,
    ) -> int:
        """The commit's transaction; the baseline's new version."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            head = cur.execute(
                "SELECT version, term FROM poll_polls WHERE pipeline = %s FOR UPDATE",
                (pipeline,),
            ).fetchone()
            if head is None:  # first commit: take the row lock through the insert
                cur.execute(
                    "INSERT INTO poll_polls (pipeline, records, version, term)"
                    " VALUES (%s, 0, 0, %s) ON CONFLICT (pipeline) DO NOTHING",
                    (pipeline, term),
                )
                head = cur.execute(
                    "SELECT version, term FROM poll_polls WHERE pipeline = %s FOR UPDATE",
                    (pipeline,),
                ).fetchone()
            assert head is not None
            version, stored_term = int(head[0]), int(head[1])
            if stored_term > term:
                raise StaleLeader(
                    f"a newer leader (term {stored_term}) committed this poll's baseline; "
                    f"this instance's (term {term}) is dropped"
                )
            whole = before is None or loaded is None or loaded != version
            old = {} if whole else dict(before or {})
            if whole:  # a first poll, or the baseline moved since our load: rewrite it
                cur.execute("DELETE FROM poll_baseline WHERE pipeline = %s", (pipeline,))
            gone = [(pipeline, _bytes(i)) for i in old if i not in after]
            put = [(pipeline, _bytes(i), _bytes(m)) for i, m in after.items() if old.get(i) != m]
            if gone:
                cur.executemany("DELETE FROM poll_baseline WHERE pipeline = %s AND id = %s", gone)
            if put:
                cur.executemany(
                    "INSERT INTO poll_baseline (pipeline, id, marker) VALUES (%s, %s, %s)"
                    " ON CONFLICT (pipeline, id) DO UPDATE SET marker = excluded.marker",
                    put,
                )
            cur.execute(
                "UPDATE poll_polls SET records = %s, version = %s, term = %s,"
                " committed_at = now() WHERE pipeline = %s",
                (len(after), version + 1, term, pipeline),
            )
        return version + 1

    def forget(self, pipeline: str) -> None:
        """Drop the baseline: the next poll is a first poll again."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM poll_baseline WHERE pipeline = %s", (pipeline,))
            conn.execute("DELETE FROM poll_polls WHERE pipeline = %s", (pipeline,))
        with self._lock:
            self._versions.pop(pipeline, None)


def leader_scheduler(
    intake: Intake,
    schedules: Iterable[Any],
    *,
    pool: ConnectionPool,
    leader: Leader,
    log: Any,
    clock: Clock | None = None,
) -> Scheduler:
    """serve's scheduler that fires only while ``leader`` leads, its marks in PostgreSQL."""
    from ..serve._scheduler import Scheduler

    marks = PgScheduleMarks(pool, fence=lambda: leader.term, on_stale=leader.resign)
    scheduler = Scheduler(intake, schedules, marks=marks, gate=leader, log=log, clock=clock)
    leader.watch(lambda _leading: scheduler.wake())  # a new leader catches up at once
    return scheduler


def leader_poller(
    intake: Intake,
    pipelines: Iterable[Any],
    *,
    pool: ConnectionPool,
    leader: Leader,
    log: Any,
    env: Mapping[str, str],
    recorder: Any = None,
    make_log: Callable[[], Any] | None = None,
    clock: Clock | None = None,
) -> Poller:
    """serve's poller that polls only while ``leader`` leads, its baselines in PostgreSQL."""
    from ..serve._poller import Poller

    # The same interface as the SQLite store, which poll_run names as its type.
    store = cast("PollStore", PgPollStore(pool, fence=lambda: leader.term, on_stale=leader.resign))
    return Poller(
        intake,
        pipelines,
        stores=lambda: store,
        gate=leader,
        log=log,
        env=env,
        recorder=recorder,
        make_log=make_log,
        clock=clock,
    )
