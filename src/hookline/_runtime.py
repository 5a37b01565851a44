"""What a run carries besides its data: secrets, log, history recorder, open clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ._errors import HooklineError, RunFailed
from ._log import RunLog
from ._model import Pipeline, Step
from ._recorder import NullRecorder, Recorder, RedactingRecorder, iterations, label, path
from ._redact import Redactor, mask_headers

StepsRunner = Callable[[tuple[Step, ...], dict[str, Any], "Runtime"], Any]
"""How nested steps are run (the engine's ``execute_steps``), handed over by the engine."""

__all__ = [
    "Cancelled",
    "DeadlinePassed",
    "DryRunStop",
    "Interrupted",
    "NullRecorder",
    "Recorder",
    "Runtime",
]


class Cancelled(RunFailed):
    """The run was interrupted."""


class DeadlinePassed(RunFailed):
    """The deadline in force on this thread passed. The engine turns it into the failure
    of the step whose ``timeout`` set that deadline ("timed out after 5s")."""

    def __init__(self) -> None:
        super().__init__("the step's time ran out")


class Interrupted(BaseException):
    """A signal (SIGTERM, SIGHUP, SIGINT) asks the run to stop now.

    The CLI's signal handler raises it in the main thread; like ``KeyboardInterrupt`` it is
    a ``BaseException`` so that no ``except Exception`` on the way swallows it.
    ``run_pipeline`` closes the run in the history as ``interrupted`` with the message
    "interrupted by SIGTERM" and raises it again; the CLI turns it into its exit code.
    """

    def __init__(self, signal_name: str = "SIGINT") -> None:
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name}")


class DryRunStop(HooklineError):
    """A dry run reached a step that needs the answer of a request it did not send."""

    exit_code = 0

    def __init__(self, step_id: str, needs: list[str]) -> None:
        self.step_id = step_id
        self.needs = needs
        names = ", ".join(f"'{n}'" for n in needs)
        what = "the output" if step_id == "output" else f"step '{step_id}'"
        super().__init__(
            f"dry run stops at {what}: it reads the result of {names}, "
            "whose request a dry run does not send"
        )


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
        # Building and redacting history records costs; skip it when nobody keeps them.
        self.keeps_history = recorder is not None and not isinstance(recorder, NullRecorder)
        # Every call the history receives is redacted here, whoever makes it.
        self.recorder: Recorder = RedactingRecorder(recorder or NullRecorder(), self.redactor)
        self.dry_run = dry_run
        self._sleep = sleep
        self._cancel = threading.Event()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.run_id = ""
        self._local = threading.local()
        # What connection templates see: set by the engine once vars are computed.
        self.connection_context: dict[str, Any] = {}
        self.dry_requests: list[dict[str, Any]] = []
        # The pipeline's `env` values (_env.read_env), set by the caller that read the
        # environment; None: the run sees the defaults alone. Never masked.
        self.env: dict[str, str] | None = None
        # `hookline test` only (hookline.testing): answers requests from a test case and may
        # give a step's result; None in every real run.
        self.answer_point: Any = None
        self.cancel_reason = "the run was interrupted"
        # Set by the engine, so that a step kind holding steps (for_each) runs them without
        # importing the engine.
        self.execute_steps: StepsRunner = _no_engine

    def client(self, name: str, factory: Callable[[], Any]) -> Any:
        """The connection's client, created once per run on first use."""
        with self._clients_lock:
            if name not in self._clients:
                self._clients[name] = factory()
            return self._clients[name]

    def record_attempt(self, step_id: str, record: dict[str, Any]) -> None:
        """Hand one connector attempt (request, response, error) to the run history."""
        if not self.keeps_history:
            return
        self.recorder.step_attempt(self.run_id, step_id, record)

    @property
    def history_enabled(self) -> bool:
        """True while the run history takes records (a store turns itself off when a
        write fails)."""
        inner = getattr(self.recorder, "inner", None)
        return self.keeps_history and bool(getattr(inner, "enabled", True))

    @property
    def nested(self) -> bool:
        """True inside a for_each iteration (on this thread)."""
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def iteration(self) -> Iterator[None]:
        """Mark this thread as running a for_each iteration."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    # --- deadlines ---------------------------------------------------------------------
    # A step's ``timeout`` bounds the whole step (retries, pages, iterations included).
    # Deadlines nest: an inner step never gets more time than the step around it. They are
    # kept per thread; a for_each hands its deadline to its worker threads with
    # ``deadline_scope(at=...)``.

    @property
    def deadline(self) -> float | None:
        """The earliest deadline in force on this thread (``time.monotonic()`` clock)."""
        stack = getattr(self._local, "deadlines", None)
        return stack[-1] if stack else None

    def remaining(self) -> float | None:
        """Seconds left before the deadline in force, or None when there is none."""
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    @contextmanager
    def deadline_scope(
        self, seconds: float | None = None, *, at: float | None = None
    ) -> Iterator[float | None]:
        """Bound what runs inside to ``seconds`` from now (or to the instant ``at``), and
        never beyond a deadline already in force. Yields the deadline now in force."""
        current = self.deadline
        candidates = [d for d in (current, at) if d is not None]
        if seconds is not None:
            candidates.append(time.monotonic() + seconds)
        new = min(candidates) if candidates else None
        stack = getattr(self._local, "deadlines", None)
        if stack is None:
            stack = self._local.deadlines = []
        stack.append(new)
        try:
            yield new
        finally:
            stack.pop()

    def check_deadline(self) -> None:
        """Raise ``DeadlinePassed`` when the deadline in force on this thread is past."""
        deadline = self.deadline
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlinePassed()

    def record_step(
        self,
        step_id: str,
        status: str,
        seconds: float,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """Log the step's line and hand its outcome to the run history, redacted."""
        note = f"- {error}" if error else ("(if was false)" if status == "skipped" else "")
        if self.log.bar is not None:
            self.log.task_done(label(step_id))  # its pages, if it fetched any
        if error or not self.nested:
            # inside a loop, named by its iterations: write[17].create
            self.log.step(step_id, status, seconds, note, loop=path(iterations()))
        elif self.log.level == "verbose":  # a for_each's inner steps: only with --verbose
            self.log.detail(f"{label(step_id)}: {status} {note}".rstrip() + f" ({seconds:.2f}s)")
        if not self.keeps_history:
            return
        self.recorder.step_finished(self.run_id, step_id, status, seconds, result, error)

    def dry_request(self, step_id: str, request: dict[str, Any]) -> None:
        """In a dry run: note a request that would have been sent, credential headers
        masked by name and every secret form masked, as the run history shows them."""
        headers = request.get("headers")
        if isinstance(headers, dict):
            request = {**request, "headers": mask_headers(headers)}
        shown = self.redactor.value({"step": step_id, **request})
        with self._clients_lock:
            self.dry_requests.append(shown)
        self.log.info(
            f"{step_id}: would send {request['method']} {self.redactor.text(request['url'])}",
            event="dry_run_request",
            step=step_id,
        )

    def was_dry(self, step_id: str) -> bool:
        """True when a dry run noted a request of this step instead of sending it."""
        with self._clients_lock:
            return any(r["step"] == step_id for r in self.dry_requests)

    def check_dry_run(self, step_id: str, reads: frozenset[str]) -> None:
        """Stop a dry run before a step that needs an answer that was never fetched."""
        unsent = {r["step"] for r in self.dry_requests}
        needs = sorted(reads & unsent)
        if needs:
            raise DryRunStop(step_id, needs)

    def cancel(self, reason: str = "the run was interrupted") -> None:
        """Stop the run at the next check: every thread's next step, sleep or iteration."""
        self.cancel_reason = reason
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(self.cancel_reason)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when the run is cancelled. Never past the deadline in force:
        a wait that would end after it ends at it, and raises ``DeadlinePassed``."""
        remaining = self.remaining()
        cut = remaining is not None and seconds >= remaining
        if cut:
            seconds = max(remaining or 0.0, 0.0)
        if self._sleep is time.sleep:
            if self._cancel.wait(seconds):
                self.check_cancelled()
        else:
            self._sleep(seconds)
        if cut:
            raise DeadlinePassed()

    def progress(self, step_id: str, total: int) -> AbstractContextManager[Callable[[], None]]:
        """Count a loop's iterations on the progress line (``hookline run`` on a terminal)."""
        return self.log.progress(label(step_id), total)

    def page_fetched(self, step_id: str, pages: int, records: int) -> None:
        """A paginated step fetched its page ``pages``: the progress line shows it."""
        if self.log.bar is not None:
            self.log.pages(label(step_id), pages, records)

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self._clients.clear()


def _no_engine(steps: tuple[Step, ...], context: dict[str, Any], runtime: Runtime) -> Any:
    raise RuntimeError("nested steps run only inside run_pipeline (no engine attached)")
