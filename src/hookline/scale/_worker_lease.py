"""A worker's lease on the deliveries it runs, seen from the run: how long it lasts, the
history guarded against a worker that lost it, and what the history says of a run whose
worker died at its very end.

A worker holds a delivery for ``LEASE_SECONDS`` (``HOOKLINE_LEASE_SECONDS``), renewed
every third of it (``_task.TaskRunner``). A worker that paused past its lease (a frozen
machine, a partition from the database) may find its delivery taken over: the
``LeaseGuard`` around the run history then drops its run's final record, which belongs
to the worker that took over.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._errors import UsageError
from .._recorder import Recorder

__all__ = ["LEASE_SECONDS", "LeaseGuard", "ended_run_reader", "lease_from_env"]


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
