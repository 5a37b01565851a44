"""The retry policy, shared by every connector: when to try again, and after how long.

Exponential backoff with jitter (a random wait between half and all of the computed
delay), bounded by ``max_delay``, by ``max_elapsed`` since the first attempt and by the
step's deadline; a server's ``Retry-After`` (seconds or an HTTP date) wins over the
computed delay when it is longer, and stops the retries when it is longer than
``max_retry_after``. When the policy says stop, ``Backoff.stopped_because`` says why, for
the log.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from ._model import RetryPolicy

NO_RETRY = RetryPolicy(attempts=1)
_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: '²'.isdigit() is True
_FOREVER = 1e12  # seconds; any Retry-After longer than this is taken as this


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value, or None when absent or unreadable
    (negative, fractional, non-ASCII digits and impossible dates are unreadable)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if _SECONDS.fullmatch(value) else _FOREVER
    # Imported here: a date in Retry-After is rare, and email.utils costs every run that
    # loads this module its import (about 2 ms) when nothing else has imported it.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        stamp = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
        return None
    current = time.time() if now is None else now
    return min(max(0.0, stamp - current), _FOREVER)


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.2g}s"


_JITTER = random.Random()  # jitter only: thread-safe enough for uniform()


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
        # The module's shared generator unless a test gives one: seeding a new one from
        # os.urandom on every call cost a third of a millisecond per request.
        self.rng = rng or _JITTER
        self.started = clock()
        self.attempt = 1  # the number of the attempt under way
        self.stopped_because = ""  # why next_delay last said stop

    def next_delay(
        self, retry_after: float | None = None, remaining: float | None = None
    ) -> float | None:
        """The wait before the next attempt, or None when the policy says stop (then
        ``stopped_because`` says why). ``remaining``: seconds left before the step's
        deadline, if it has one."""
        p = self.policy
        if self.attempt >= p.attempts:
            self.stopped_because = f"all {p.attempts} attempts used"
            return None
        if retry_after is not None and retry_after > p.max_retry_after:
            self.stopped_because = (
                f"the server asked to wait {_seconds(retry_after)} (Retry-After), more than "
                f"max_retry_after ({_seconds(p.max_retry_after)})"
            )
            return None
        ceiling = min(p.max_delay, p.initial_delay * p.multiplier ** (self.attempt - 1))
        delay = self.rng.uniform(ceiling / 2, ceiling)  # jitter, never less than half
        if retry_after is not None:
            delay = max(delay, retry_after)
        if self.clock() - self.started + delay > p.max_elapsed:
            self.stopped_because = (
                f"the next attempt would start more than max_elapsed "
                f"({_seconds(p.max_elapsed)}) after the first"
            )
            return None
        if remaining is not None and delay >= remaining:
            self.stopped_because = (
                f"the next attempt would start in {_seconds(delay)}, after the step's timeout "
                f"({_seconds(max(remaining, 0.0))} left)"
            )
            return None
        self.attempt += 1
        return delay
