"""What the run history receives, and the wrapper that redacts it on the way in.

The runtime never hands a ``Recorder`` raw data: it wraps the one it is given in a
``RedactingRecorder``, so the input, results, errors, outputs and attempt records of every
call are masked before any store sees them (and before a store cuts them to size: a cut
must never leave part of a secret behind). It also tells the store which for_each
iteration each record belongs to (``in_iteration``, kept per thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from ._model import Pipeline
from ._redact import Redactor

Loop = tuple[str, int]
"""A for_each iteration: the for_each step's id and the iteration's index."""

_where = threading.local()


@contextmanager
def in_iteration(
    step_id: str, index: int, around: tuple[Loop, ...] | None = None
) -> Iterator[None]:
    """Mark what this thread records and logs next as part of iteration ``index`` of
    ``step_id``. Iterations nest (a for_each inside an iteration); ``around``: the
    iterations this loop runs in, for a worker thread that starts with none of its own."""
    saved: list[Loop] | None = getattr(_where, "stack", None)
    if around is not None:
        _where.stack = [*around, (step_id, index)]
    else:
        if saved is None:
            saved = _where.stack = []
        saved.append((step_id, index))
    try:
        yield
    finally:
        if around is not None:
            _where.stack = saved
        else:
            _where.stack.pop()


def iterations() -> tuple[Loop, ...]:
    """The for_each iterations running on this thread, outermost first."""
    return tuple(getattr(_where, "stack", None) or ())


def path(loops: tuple[Loop, ...] | list[Loop]) -> str:
    """Iterations as the log names them: ``outer[2].inner[5]``."""
    return ".".join(f"{step}[{index}]" for step, index in loops)


def label(step_id: str) -> str:
    """A step's name in log lines and errors: ``write[17].create`` inside iteration 17 of
    the loop ``write``; the bare id outside loops."""
    stack = getattr(_where, "stack", None)
    return f"{path(stack)}.{step_id}" if stack else step_id


def current_iteration() -> Loop | None:
    """The innermost for_each iteration running on this thread, if any, as the history
    keys it (``key``)."""
    return key(getattr(_where, "stack", None) or ())


def key(loops: tuple[Loop, ...] | list[Loop]) -> Loop | None:
    """The history's key of the innermost of ``loops``: the loop's step id prefixed by the
    iterations around it (``("outer[2].inner", 5)``), so that iteration 5 of ``inner`` in
    ``outer[2]`` and in ``outer[3]`` are told apart; None outside loops."""
    if not loops:
        return None
    step_id, index = loops[-1]
    return (f"{path(loops[:-1])}.{step_id}" if len(loops) > 1 else step_id), index


def child_key(loop_step: str | None, loop_index: int | None, step_id: str) -> str:
    """How the history names the loop ``step_id`` whose iteration ran at
    (``loop_step``, ``loop_index``): the key of its iterations' own records."""
    if loop_step is None:
        return step_id
    return f"{loop_step}[{loop_index}].{step_id}"


class Recorder(Protocol):
    """Receives what happens in a run, for the run history. Implementations redact nothing:
    they get data already redacted by the runtime."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        """A run began."""

    def step_attempt(
        self, run_id: str, step_id: str, attempt: dict[str, Any], loop: Loop | None = None
    ) -> None:
        """One attempt of a step: request, response, duration, error (all redacted);
        ``loop`` is the for_each iteration it ran in."""

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        """A step ended: ok, skipped, failed, ... with its result or error."""

    def iteration_finished(
        self,
        run_id: str,
        step_id: str,
        index: int,
        status: str,
        seconds: float,
        item: Any,
        output: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        """Iteration ``index`` of for_each ``step_id`` ended ("ok" or "failed");
        ``loop`` is the iteration around that for_each, when it is nested."""

    def run_finished(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        *,
        commit: Callable[[Any], None] | None = None,
    ) -> None:
        """The run ended. ``commit``: a state update the engine passes only to a
        ``Store``, to write in the same transaction as the run's record."""


class NullRecorder:
    """Keeps no history."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        return None

    def step_attempt(
        self, run_id: str, step_id: str, attempt: dict[str, Any], loop: Loop | None = None
    ) -> None:
        return None

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        return None

    def iteration_finished(
        self,
        run_id: str,
        step_id: str,
        index: int,
        status: str,
        seconds: float,
        item: Any,
        output: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        return None

    def run_finished(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        *,
        commit: Callable[[Any], None] | None = None,
    ) -> None:
        return None


class RedactingRecorder:
    """A ``Recorder`` that masks every value with the run's redactor, then passes it on."""

    def __init__(self, inner: Recorder, redactor: Redactor) -> None:
        self.inner = inner
        self._redactor = redactor

    def _error(self, error: str | None) -> str | None:
        return None if error is None else self._redactor.text(error)

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        self.inner.run_started(run_id, pipeline, trigger, self._redactor.value(input))

    def step_attempt(
        self, run_id: str, step_id: str, attempt: dict[str, Any], loop: Loop | None = None
    ) -> None:
        self.inner.step_attempt(run_id, step_id, self._redactor.value(attempt), **_where_kw(loop))

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        self.inner.step_finished(
            run_id,
            step_id,
            status,
            seconds,
            self._redactor.value(result),
            self._error(error),
            **_where_kw(loop),
        )

    def iteration_finished(
        self,
        run_id: str,
        step_id: str,
        index: int,
        status: str,
        seconds: float,
        item: Any,
        output: Any,
        error: str | None,
        loop: Loop | None = None,
    ) -> None:
        inner = getattr(self.inner, "iteration_finished", None)
        if inner is None:  # a recorder written before iterations were recorded
            return
        inner(
            run_id,
            step_id,
            index,
            status,
            seconds,
            self._redactor.value(item),
            self._redactor.value(output),
            self._error(error),
            **_where_kw(loop),
        )

    def run_finished(
        self,
        run_id: str,
        status: str,
        output: Any,
        error: str | None,
        *,
        commit: Callable[[Any], None] | None = None,
    ) -> None:
        """``commit``: a state update to write in the same transaction (``Store`` only)."""
        extra = {} if commit is None else {"commit": commit}
        self.inner.run_finished(
            run_id, status, self._redactor.value(output), self._error(error), **extra
        )


def _where_kw(loop: Loop | None) -> dict[str, Loop]:
    """``loop=`` for the inner recorder, only inside an iteration: a recorder written before
    iterations were recorded keeps working for steps outside loops."""
    where = loop or current_iteration()
    return {} if where is None else {"loop": where}
