"""The seam between receiving a run and running it: intake, queue and their outcome.

``hookline serve`` hands every webhook delivery and every schedule fire to an ``Intake``;
the embedded one (``_intake_sqlite``) commits it to the run-history database before the
caller may acknowledge it, and the worker pool (``_workers``) runs it from there. A later
release can put a distributed task queue behind the same Protocol.

Exceptions a caller of ``submit`` sees, through the future:

- ``QueueFull``: ``max_queue`` deliveries wait already; answer 503 with ``Retry-After``.
- ``IntakeUnavailable``: the delivery could not be committed; answer 503, never a 2xx.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = [
    "DELIVERY_STATUSES",
    "Accepted",
    "Delivery",
    "Intake",
    "IntakeUnavailable",
    "QueueFull",
    "RunOutcome",
]

#: Every status a delivery can hold, in the order the docs list them.
DELIVERY_STATUSES = ("queued", "running", "retry-wait", "done", "dead", "needs-attention")


@dataclass(frozen=True)
class Delivery:
    """One run to do, as it arrived."""

    pipeline: str  # the pipeline's name (unique across the served directory)
    trigger: str  # "webhook" | "schedule" | "replay"
    input: Any  # a JSON value, already parsed and checked
    # Dedup key: the delivery header's value of a webhook, "schedule:<ISO minute>" of a
    # fire; None: never a duplicate.
    key: str | None = None
    received_at: float = 0.0  # time.time() at intake


class Accepted(NamedTuple):
    """A delivery durably committed."""

    run_id: str  # the id its (first) run has in the history
    duplicate: bool  # True: this key was seen before; run_id is the first delivery's


class RunOutcome(NamedTuple):
    """How a delivery's run ended, for a sync reply."""

    status: str  # a run status: "succeeded", "failed", "interrupted", ...
    output: Any
    error: str | None


class QueueFull(Exception):
    """The queue holds ``max_queue`` deliveries not yet run."""

    def __init__(self, depth: int, retry_after: int) -> None:
        self.depth = depth
        self.retry_after = retry_after  # seconds, for the Retry-After header
        super().__init__(
            f"the queue is full ({depth} deliveries wait); try again in {retry_after}s"
        )


class IntakeUnavailable(Exception):
    """The delivery could not be committed to the store: answer 503."""


class Intake(Protocol):
    """Where deliveries are committed and runs are awaited."""

    def submit(self, delivery: Delivery) -> concurrent.futures.Future[Accepted]:
        """Non-blocking. The future resolves once the delivery is durably committed
        (group commit: one writer commits every pending delivery in one transaction), or
        fails with QueueFull / IntakeUnavailable. It never resolves before the commit."""
        ...

    def depth(self) -> int:
        """Deliveries queued (or waiting for a retry), not yet started."""
        ...

    def active(self, pipeline: str) -> int:
        """Queued plus running deliveries of one pipeline."""
        ...

    def outcome(self, run_id: str, timeout: float) -> RunOutcome | None:
        """Wait up to ``timeout`` seconds for the delivery of ``run_id`` to finish its
        run; None if it has not by then."""
        ...
