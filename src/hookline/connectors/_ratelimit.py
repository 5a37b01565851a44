"""A per-connection rate limit that every thread of a run shares.

``5/s`` means: in any window of one second, at most 5 requests leave. We keep the send
times of the last N requests (a rolling window) rather than a refilling bucket: a bucket
of N tokens refilled at N/s lets up to 2N-1 requests through in one window, and upstream
limits (Airtable's 5 per second per base, say) count windows.

A slot is taken before a request is prepared and stamped again just before it is sent,
so time spent in between (a thread waiting for the CPU, an OAuth2 token fetch) does not
let two requests leave closer together than the window allows. A small margin absorbs
the jitter between our clock and the server's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Of the period, for scheduling and network jitter on either side. 5% (50 ms a second)
# was not enough on a loaded 2-core machine: a request stamped on time can reach the
# server behind one stamped later, and the server counts arrivals, not stamps.
MARGIN = 0.10
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
        if count == int(count):
            self.limit, self.period = int(count), per_seconds
        else:  # 0.5/s is one request every 2 s; 1.5/s one every 0.67 s
            self.limit, self.period = 1, per_seconds / count
        self.window = self.period * (1 + MARGIN)
        self._slots: list[list[float]] = []  # [send time] of the requests in the window
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self, deadline: float | None = None) -> list[float] | None:
        """Block until a request may leave; return its slot (pass it to ``sent``), or None
        when it could not leave before ``deadline`` (a ``time.monotonic()`` instant)."""
        while True:
            with self._lock:
                now = self._clock()
                self._slots = [s for s in self._slots if now - s[0] < self.window - _EPSILON]
                if len(self._slots) < self.limit:
                    slot = [now]
                    self._slots.append(slot)
                    return slot
                oldest = min(s[0] for s in self._slots)
                delay = max(self.window - (now - oldest), _EPSILON)
            if deadline is not None and now + delay > deadline:
                return None
            self._sleep(delay)

    def sent(self, slot: list[float]) -> None:
        """The request of ``slot`` is leaving now: its window starts now."""
        with self._lock:
            slot[0] = max(slot[0], self._clock())
