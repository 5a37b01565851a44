"""A per-connection rate limit that every thread of a run shares.

``5/s`` means: in any window of one second, at most 5 requests leave. We keep the send
times of the last N requests (a rolling window) rather than a refilling bucket: a bucket
of N tokens refilled at N/s lets up to 2N-1 requests through in one window, and upstream
limits (Airtable's 5 per second per base, say) count windows. A small margin absorbs the
jitter between our clock and the server's.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MARGIN = 0.02  # of the period, for network jitter between here and the server
_EPSILON = 1e-6  # float rounding must not turn a finished wait into an endless loop


class RateLimiter:
    def __init__(
        self,
        count: float,
        per_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, int(count)) if count >= 1 else 1
        # A fractional rate such as 0.5/s is one request per 2 s.
        self.period = per_seconds if count >= 1 else per_seconds / count
        self.window = self.period * (1 + MARGIN)
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Block until a request may leave; return how long we waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window - _EPSILON:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return waited
                delay = max(self.window - (now - self._sent[0]), _EPSILON)
            self._sleep(delay)
            waited += delay
