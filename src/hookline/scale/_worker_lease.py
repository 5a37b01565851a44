"""A worker's lease on the deliveries it runs, seen from the run: how long it lasts, the
history guarded against a worker that lost it, and what the history says of a run whose
worker died at its very end.

A worker holds a delivery for ``LEASE_SECONDS`` (``HOOKLINE_LEASE_SECONDS``), renewed
every third of it (``_task.TaskRunner``). A worker that paused past its lease (a frozen
machine, a partition from the database) may find its delivery taken over: the
``LeaseGuard`` around the run history then drops its run's final record, which belongs
to the worker that took over. A worker that could not renew a lease for a whole lease
no longer knows whether it holds it: the ``LeaseKeeper`` stops that run, which then
records nothing (the next claim resumes it from its checkpoints).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import UsageError
from .._recorder import Recorder

if TYPE_CHECKING:  # the worker's modules import these; this one stays light
    from .._coord import SlotLease
    from .._log import RunLog
    from .._runtime import Runtime
    from ._pg_deliveries import Claim, Deliveries

__all__ = [
    "LEASE_SECONDS",
    "LOST",
    "LeaseGuard",
    "LeaseKeeper",
    "Live",
    "ended_run_reader",
    "expired",
    "lease_from_env",
    "one_line",
]


class _Holder(Protocol):
    def still_held(self, run_id: str) -> bool: ...


#: Seconds a worker's lease on a delivery lasts (HOOKLINE_LEASE_SECONDS); renewed every
#: third of it while the run goes. A worker that died is taken over this long after its
#: last renewal.
LEASE_SECONDS = 60.0


def lease_from_env(env: Mapping[str, str]) -> float:
    """HOOKLINE_LEASE_SECONDS, checked: seconds from 1 to 3600."""
    text = env.get("HOOKLINE_LEASE_SECONDS", "").strip()
    if not text:
        return LEASE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 1 <= seconds <= 3600:
        raise UsageError(f"HOOKLINE_LEASE_SECONDS={text!r}: expected seconds from 1 to 3600")
    return seconds


LOST = "another worker took this delivery over (this worker's lease expired)"


def expired(seconds: float) -> str:
    return (
        f"this worker could not renew its lease on the delivery for {seconds:g}s (the "
        "database out of reach, or the worker paused), so another worker may take it over"
    )


@dataclass
class Live:
    """A delivery this worker runs now."""

    claim: Claim
    held: SlotLease | None
    runtime: Runtime | None = None
    renewed: float = field(default_factory=time.monotonic)  # the lease's last renewal


class LeaseGuard:
    """The run history, whose ``run_finished`` writes nothing for a run whose delivery
    another worker took over; every other call passes on as it is."""

    def __init__(self, inner: Recorder, runner: _Holder) -> None:
        self._inner = inner
        self._runner = runner

    def run_finished(self, run_id: str, *args: Any, **kwargs: Any) -> None:
        if not self._runner.still_held(run_id):
            return  # the worker that took it over records its end
        self._inner.run_finished(run_id, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def ended_run_reader(pool: Any) -> Callable[[str], tuple[str, Any, str | None] | None]:
    """``ended(run_id)``: the final status, output and error the history holds for a run
    that ended, else None. A worker that died between its run's final record and its
    delivery's outcome leaves this: the next claim records that outcome instead of running
    the delivery again (its checkpoints are gone with its end)."""

    def ended(run_id: str) -> tuple[str, Any, str | None] | None:
        with pool.connection() as conn:
            found = conn.execute(
                "SELECT status, output, error FROM runs WHERE id = %s", (run_id,)
            ).fetchone()
        if found is None or found[0] in ("running", "lost", "interrupted"):
            return None
        status, output, error = found
        try:
            value = json.loads(output) if isinstance(output, str) else output
        except ValueError:
            value = None
        return status, value, error

    return ended


class LeaseKeeper:
    """The leases of the deliveries a worker runs (``_task.TaskRunner`` is one): renewed
    every third of the lease by one thread (``_beat``); watched by another
    (``_watch_leases``), which stops a run once its lease was not renewed for a whole
    lease, whatever the database answers later: a renewal may wait on a database out of
    reach far longer than the lease, and by then another worker may hold it."""

    deliveries: Deliveries
    owner: str
    lease_seconds: float
    make_log: Callable[[], RunLog]
    _lock: threading.Lock
    _live: dict[str, Live]  # by delivery id
    _lost: dict[str, str]  # delivery id: why its lease is no longer this worker's
    _closed: threading.Event

    # --- renewals --------------------------------------------------------------------

    def _beat(self) -> None:
        """Every third of the lease: renew the leases of the runs under way; a run whose
        lease another worker took (this one paused past it) is stopped at once."""
        every = self.lease_seconds / 3
        wait = every
        warned = False
        while not self._closed.wait(wait):
            wait = every
            with self._lock:
                ids = list(self._live)
            if not ids:
                continue
            asked = time.monotonic()
            try:
                held = self.deliveries.beat(ids, self.owner, self.lease_seconds)
            except Exception as exc:
                if not warned:
                    self.make_log().warning(
                        f"cannot renew the leases of the runs under way: {one_line(exc)}; "
                        "trying again",
                        event="lease_renew_failed",
                    )
                warned = True
                wait = every / 2  # sooner: one more failure may leave no time to spare
                continue
            warned = False
            self._renewed(ids, held, asked)

    def _renewed(self, ids: list[str], held: set[str], asked: float) -> None:
        with self._lock:
            for id in ids:
                live = self._live.get(id)
                if live is None:
                    continue
                if id in held:
                    live.renewed = max(live.renewed, asked)
                    continue
                if id in self._lost:
                    continue
                self._lost[id] = LOST
                if live.runtime is not None:
                    live.runtime.cancel(LOST)

    def _watch_leases(self) -> None:
        """Six times a lease: stop the runs whose lease was not renewed for a whole
        lease. Apart from ``_beat``, whose renewal may wait on the database much longer."""
        while not self._closed.wait(self.lease_seconds / 6):
            self._expire(time.monotonic())

    def _expire(self, now: float) -> None:
        stopped: list[Claim] = []
        with self._lock:
            for id, live in self._live.items():
                if id in self._lost or now - live.renewed < self.lease_seconds:
                    continue
                # Written before any later answer of the database: once the lease may be
                # another's, this run neither goes on nor records anything.
                why = expired(self.lease_seconds)
                self._lost[id] = why
                if live.runtime is not None:
                    live.runtime.cancel(why)
                stopped.append(live.claim)
        for claim in stopped:
            self.make_log().warning(
                f"run {claim.run_id} of '{claim.pipeline}': stopped: "
                f"{expired(self.lease_seconds)}; that worker resumes it from its "
                "checkpoints and records its outcome",
                event="lease_expired",
            )

    def still_held(self, run_id: str) -> bool:
        """Does this worker still hold the lease of the delivery it runs as ``run_id``?
        Asked of the database only when the last renewal is older than half the lease
        (the worker may have paused past it); a database that cannot answer: yes while
        the last renewal is younger than the lease (what is written after is refused
        anyway if the lease is gone), no once it is older."""
        with self._lock:
            live = next((v for v in self._live.values() if v.claim.run_id == run_id), None)
            if live is None:
                return True  # not a run of a delivery (none here): nothing to guard
            if live.claim.id in self._lost:
                return False
            if time.monotonic() - live.renewed < self.lease_seconds / 2:
                return True
        asked = time.monotonic()
        try:
            held = self.deliveries.beat([live.claim.id], self.owner, self.lease_seconds)
        except Exception:
            self._expire(time.monotonic())
            with self._lock:
                return live.claim.id not in self._lost
        self._renewed([live.claim.id], held, asked)
        return live.claim.id in held


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
