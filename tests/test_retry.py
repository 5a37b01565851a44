"""The shared retry policy: backoff growth, jitter bounds, Retry-After, elapsed limit."""

from __future__ import annotations

import random
from email.utils import formatdate

from hookline._model import RetryPolicy
from hookline._retry import Backoff, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_exponentially_within_jitter_bounds_and_stop_after_attempts():
    clock = FakeClock()
    policy = RetryPolicy(attempts=5, initial_delay=1.0, multiplier=2.0, max_delay=5.0)
    backoff = Backoff(policy, clock=clock, rng=random.Random(7))
    delays = []
    while (d := backoff.next_delay()) is not None:
        delays.append(d)
        clock.now += d
    assert len(delays) == 4  # 5 attempts in all: 4 waits
    for delay, ceiling in zip(delays, [1.0, 2.0, 4.0, 5.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_when_longer():
    backoff = Backoff(RetryPolicy(attempts=3, initial_delay=0.1), rng=random.Random(1))
    assert backoff.next_delay(retry_after=7.0) == 7.0


def test_max_elapsed_stops_early():
    clock = FakeClock()
    policy = RetryPolicy(attempts=10, initial_delay=10.0, max_delay=10.0, max_elapsed=15.0)
    backoff = Backoff(policy, clock=clock, rng=random.Random(3))
    first = backoff.next_delay()
    assert first is not None
    clock.now += first
    clock.now += 6  # the attempt itself took a while
    assert backoff.next_delay() is None


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = formatdate(now + 12, usegmt=True)
    assert parse_retry_after(date, now=now) == 12.0
    assert parse_retry_after(formatdate(now - 50, usegmt=True), now=now) == 0.0


def test_odd_retry_after_values_are_unreadable_or_capped_never_a_crash():
    assert parse_retry_after("²") is None  # '²'.isdigit() is True, float('²') raises
    assert parse_retry_after("-5") is None
    assert parse_retry_after("1.5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Mon, 99 Foo 2026 25:61:61 GMT") is None
    assert parse_retry_after("9" * 400) == 1e12  # taken as "very long", then capped
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0) == 253402300799.0


def test_the_backoff_says_why_it_stopped():
    clock = FakeClock()
    policy = RetryPolicy(attempts=3, initial_delay=1.0, max_retry_after=10.0, max_elapsed=5.0)
    backoff = Backoff(policy, clock=clock, rng=random.Random(1))
    assert backoff.next_delay(retry_after=11.0) is None
    assert backoff.stopped_because == (
        "the server asked to wait 11s (Retry-After), more than max_retry_after (10s)"
    )
    assert backoff.next_delay(retry_after=6.0) is None
    assert backoff.stopped_because == (
        "the next attempt would start more than max_elapsed (5s) after the first"
    )
    assert backoff.next_delay(remaining=0.2) is None
    assert backoff.stopped_because.startswith("the next attempt would start in ")
    assert backoff.stopped_because.endswith("after the step's timeout (0.2s left)")
    assert backoff.next_delay() is not None
    assert backoff.next_delay() is not None
    assert backoff.next_delay() is None
    assert backoff.stopped_because == "all 3 attempts used"
