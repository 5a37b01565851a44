"""What the run history receives, and the wrapper that redacts it on the way in.

The runtime never hands a ``Recorder`` raw data: it wraps the one it is given in a
``RedactingRecorder``, so the input, results, errors, outputs and attempt records of every
call are masked before any store sees them (and before a store cuts them to size: a cut
must never leave part of a secret behind).
"""

from __future__ import annotations

from typing import Any, Protocol

from ._model import Pipeline
from ._redact import Redactor


class Recorder(Protocol):
    """Receives what happens in a run, for the run history. Implementations redact nothing:
    they get data already redacted by the runtime."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        """A run began."""

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        """One attempt of a step: request, response, duration, error (all redacted)."""

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
    ) -> None:
        """A step ended: ok, skipped, failed, ... with its result or error."""

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        """The run ended."""


class NullRecorder:
    """Keeps no history."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        return None

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        return None

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
    ) -> None:
        return None

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
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

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        self.inner.step_attempt(run_id, step_id, self._redactor.value(attempt))

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        status: str,
        seconds: float,
        result: Any,
        error: str | None,
    ) -> None:
        self.inner.step_finished(
            run_id,
            step_id,
            status,
            seconds,
            self._redactor.value(result),
            self._error(error),
        )

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        self.inner.run_finished(run_id, status, self._redactor.value(output), self._error(error))
