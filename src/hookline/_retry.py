"""The retry policy, shared by every connector: when to try again, and after how long.

Exponential backoff with jitter (a random wait between half and all of the computed
delay), bounded by ``max_delay`` and by ``max_elapsed``
since the first attempt; a server's ``Retry-After`` (seconds or an HTTP date) wins over
the computed delay when it is longer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from ._model import RetryPolicy

NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value, or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class Backoff:
    """Tracks one call's attempts under a policy."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.started = clock()
        self.attempt = 1  # the number of the attempt under way

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """The wait before the next attempt, or None when the policy says stop."""
        p = self.policy
        if self.attempt >= p.attempts:
            return None
        ceiling = min(p.max_delay, p.initial_delay * p.multiplier ** (self.attempt - 1))
        delay = self.rng.uniform(ceiling / 2, ceiling)  # jitter, never less than half
        if retry_after is not None:
            delay = max(delay, retry_after)
        if self.clock() - self.started + delay > p.max_elapsed:
            return None
        self.attempt += 1
        return delay
