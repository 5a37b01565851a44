"""The rolling-window rate limit, on a simulated clock (the real-server test is in
tests/connectors)."""

from __future__ import annotations

from hookline.connectors._ratelimit import MARGIN, RateLimiter


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_never_more_than_n_in_any_window():
    clock = SimClock()
    limiter = RateLimiter(5, 1.0, clock=clock.time, sleep=clock.sleep)
    sent = []
    for _ in range(40):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.01  # each request takes a little time
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t < start + 1.0]
        assert len(in_window) <= 5
    # and it is not needlessly slow: 40 requests at 5/s take about 7 windows
    assert sent[-1] <= 7 * (1 + MARGIN) + 0.5


def test_fractional_rates():
    clock = SimClock()
    limiter = RateLimiter(0.5, 1.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert clock.now >= 2.0


def test_a_wait_that_would_pass_the_deadline_gives_up_at_once():
    clock = SimClock()
    limiter = RateLimiter(1, 10.0, clock=clock.time, sleep=clock.sleep)
    assert limiter.acquire(deadline=5.0) is not None
    assert limiter.acquire(deadline=5.0) is None  # the next slot opens after 10.5 s
    assert clock.now == 0.0  # it did not sleep first
    assert limiter.acquire(deadline=20.0) is not None
    assert clock.now >= 10.0
