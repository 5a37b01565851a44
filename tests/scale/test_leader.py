"""One leader among serve instances: a Redis lease with a fencing token, on a real Redis."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time

import pytest

from hookline.scale._leader import Leader
from hookline.scale._redis import connect as _connect

# A contender in a process of its own, so that it can be killed as a machine dies.
HOLDER = """
import sys, time
from hookline.scale._leader import Leader
from hookline.scale._redis import connect
leader = Leader(connect(sys.argv[1]), "serve", ttl=float(sys.argv[2]))
leader.start()
while not leader.is_leader():
    time.sleep(0.01)
print("leading", leader.term, flush=True)
time.sleep(600)
"""


@pytest.fixture
def connect():
    """``connect(url)``, each client closed when the test ends."""
    made = []

    def make(url):
        made.append(_connect(url))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _leaders(contenders: list[Leader]) -> list[Leader]:
    return [c for c in contenders if c.is_leader()]


def _first_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The child's first line; a child that hangs before printing fails the test."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no line from the child in {timeout} s (exit {proc.poll()})"
    return proc.stdout.readline()


def test_two_contenders_one_leader(redis_url, connect):
    # renewed every ttl/3 and believed for 0.9 ttl: a renewal late by up to ~2.8 s on a
    # loaded machine keeps the lease, so "the same one throughout" is about the product
    contenders = [Leader(connect(redis_url), "serve", ttl=5.0) for _ in range(2)]
    for contender in contenders:
        contender.start()
    try:
        end = time.monotonic() + 30
        while not _leaders(contenders) and time.monotonic() < end:
            time.sleep(0.01)
        assert len(_leaders(contenders)) == 1
        # over several renewals, never two at once, and the same one throughout
        first = _leaders(contenders)[0]
        end = time.monotonic() + 6  # several renewals (every 5/3 s)
        while time.monotonic() < end:
            assert _leaders(contenders) in ([first], [])  # never two, never the other
            time.sleep(0.005)
        assert _leaders(contenders) == [first]  # still the same one at the end
        assert first.term is not None and first.term >= 1
        assert [c.term for c in contenders if c is not first] == [None]
    finally:
        for contender in contenders:
            contender.stop()


def test_a_killed_leader_is_replaced_within_the_ttl_with_a_greater_term(redis_url, connect):
    ttl = 4.0  # renewed every ttl/3: a loaded machine's late renewal is no takeover
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, str(ttl)], stdout=subprocess.PIPE, text=True
    )
    follower = Leader(connect(redis_url), "serve", ttl=ttl)
    try:
        line = _first_line(holder).split()
        assert line[0] == "leading", line
        old_term = int(line[1])
        follower.start()
        time.sleep(ttl)  # the follower bids and is refused while the holder renews
        assert not follower.is_leader()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()
        # the key expires within ttl of the last renewal, and the follower bids every
        # ttl/3: replaced within about one ttl, with room for a loaded machine
        assert follower.wait_leader(ttl + 10)
        assert time.monotonic() - killed <= ttl + ttl / 3 + 3.0
        assert follower.term is not None and follower.term > old_term
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
        follower.stop()


def test_a_stopped_leader_hands_over_at_once_and_terms_grow(redis_url, connect):
    first = Leader(connect(redis_url), "serve", ttl=30.0)
    second = Leader(connect(redis_url), "serve", ttl=30.0)
    first.start()
    try:
        assert first.wait_leader(5)
        term = first.term
        second.start()
        time.sleep(2.5)  # two of its bids (a follower bids every 1 s): both refused
        assert not second.is_leader()
        first.stop()
        assert not first.is_leader()
        # far sooner than the 30 s ttl: the lease was given back
        assert second.wait_leader(10)
        assert second.term == (term or 0) + 1
    finally:
        first.stop()
        second.stop()


def test_a_leader_that_loses_redis_steps_down(make_redis, connect):
    server = make_redis()
    leader = Leader(connect(server.url), "serve", ttl=1.5)
    leader.start()
    try:
        assert leader.wait_leader(5)
        server.kill()
        end = time.monotonic() + 1.5 + 1.0
        while leader.is_leader() and time.monotonic() < end:
            time.sleep(0.02)
        assert not leader.is_leader()
        assert leader.term is None
    finally:
        leader.stop()
