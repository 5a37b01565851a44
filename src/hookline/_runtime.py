"""What a run carries besides its data: secrets, log, history recorder, open clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ._errors import RunFailed
from ._log import RunLog
from ._model import Pipeline
from ._redact import Redactor


class Recorder(Protocol):
    """Receives what happens in a run, for the run history. Implementations redact nothing:
    they get data already redacted by the runtime."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        """A run began."""

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        """One attempt of a step: request, response, duration, error (all redacted)."""

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        """The run ended."""


class NullRecorder:
    """Keeps no history."""

    def run_started(self, run_id: str, pipeline: Pipeline, trigger: str, input: Any) -> None:
        return None

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        return None

    def run_finished(self, run_id: str, status: str, output: Any, error: str | None) -> None:
        return None


class Cancelled(RunFailed):
    """The run was interrupted."""


class Runtime:
    def __init__(
        self,
        pipeline: Pipeline,
        secrets: dict[str, str],
        *,
        log: RunLog | None = None,
        recorder: Recorder | None = None,
        dry_run: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pipeline = pipeline
        self.secrets = secrets
        self.log = log or RunLog()
        self.redactor: Redactor = self.log.redactor
        for value in secrets.values():
            self.redactor.add(value)
        self.recorder: Recorder = recorder or NullRecorder()
        self.dry_run = dry_run
        self._sleep = sleep
        self._cancel = threading.Event()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.vars: dict[str, Any] = {}

    def client(self, name: str, factory: Callable[[], Any]) -> Any:
        """The connection's client, created once per run on first use."""
        with self._clients_lock:
            if name not in self._clients:
                self._clients[name] = factory()
            return self._clients[name]

    def cancel(self) -> None:
        self._cancel.set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("the run was interrupted")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when the run is cancelled."""
        if self._sleep is time.sleep:
            if self._cancel.wait(seconds):
                self.check_cancelled()
        else:
            self._sleep(seconds)

    def progress(self, label: str, total: int) -> AbstractContextManager[Callable[[], None]]:
        return self.log.progress(label, total)

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self._clients.clear()
