"""The warm pool of ``code`` step workers (``_code_worker``), shared by every run of the
process.

A worker is started on first use and kept idle afterwards, so that a ``for_each`` over
10,000 items starts as many interpreters as it runs iterations at once, not 10,000. A
worker whose call ran out of time, was interrupted or died is killed and forgotten; the
next call starts a fresh one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._jsonsafe import loads

MAX_IDLE = 8
"""Idle workers kept per memory limit; more are stopped when their call ends."""

MAX_ANSWER = 64 * 1024 * 1024
"""The most bytes one answer may take (result, stdout and stderr); beyond, the step fails."""

CANCEL_POLL = 0.2
"""Seconds between two looks at the run's cancellation while a call runs."""

_WORKER = str(Path(__file__).with_name("_code_worker.py"))


class WorkerDied(Exception):
    """The worker ended without answering (a crash, the memory limit, os._exit)."""


class AnswerTooLarge(Exception):
    """The answer passed MAX_ANSWER bytes."""


class TimedOut(Exception):
    """No answer before the deadline; the worker was killed."""


class CallCancelled(Exception):
    """The run was cancelled while the function ran; the worker was killed."""


class Worker:
    def __init__(self, memory: int) -> None:
        self.memory = memory
        read, write = os.pipe()
        env = dict(os.environ, HOOKLINE_CODE_FD=str(write))
        try:
            # -I: no user site, no PYTHON* variables, no current directory on sys.path;
            # -S is not given, so that the user's code can import installed packages.
            self.process = subprocess.Popen(
                [sys.executable, "-I", _WORKER, str(memory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write,),
                env=env,
                start_new_session=False,
            )
        finally:
            os.close(write)
        self.answers = read
        self.buffer = bytearray()

    def call(
        self, request: dict[str, Any], deadline: float | None, cancelled: Callable[[], bool]
    ) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request, ensure_ascii=True).encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(self._ended()) from exc
        while b"\n" not in self.buffer:
            # Short waits: a run cancelled from another thread (serve's shutdown, a loop's
            # failed sibling) stops waiting within CANCEL_POLL seconds.
            wait = CANCEL_POLL
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            ready, _, _ = select.select([self.answers], [], [], wait)
            if not ready:
                if cancelled():
                    raise CallCancelled()
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimedOut()
                continue
            chunk = os.read(self.answers, 1 << 16)
            if not chunk:
                raise WorkerDied(self._ended())
            self.buffer += chunk
            if len(self.buffer) > MAX_ANSWER:
                raise AnswerTooLarge()
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        # The worker is trusted, but what the function returned may nest deeper than Python
        # can parse: the parse of untrusted JSON (depth limit, lone surrogates replaced).
        answer: dict[str, Any] = loads(line.decode("utf-8", "replace"))
        return answer

    def _ended(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"it was killed by {name}"
        return f"it exited with code {code}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        os.close(self.answers)


class Pool:
    def __init__(self) -> None:
        self._idle: dict[int, list[Worker]] = {}
        self._lock = threading.Lock()
        self.started = 0  # workers started in all (tests read it)

    def call(
        self,
        memory: int,
        request: dict[str, Any],
        deadline: float | None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        with self._lock:
            idle = self._idle.get(memory)
            worker = idle.pop() if idle else None
        if worker is None:
            worker = Worker(memory)
            with self._lock:
                self.started += 1
        try:
            answer = worker.call(request, deadline, cancelled)
        except BaseException:
            # Its state is unknown (mid-call, dead, too big an answer): never reuse it.
            worker.close()
            raise
        with self._lock:
            idle = self._idle.setdefault(memory, [])
            if len(idle) < MAX_IDLE:
                idle.append(worker)
                return answer
        worker.close()
        return answer

    def close(self) -> None:
        with self._lock:
            workers = [w for idle in self._idle.values() for w in idle]
            self._idle.clear()
        for worker in workers:
            worker.close()


POOL = Pool()
atexit.register(POOL.close)
