"""Running one claimed delivery, and where the delivery stands after its run: the part the
embedded worker pool (``_workers``) and the distributed worker (``hookline.scale._task``)
share, so that a pipeline behaves the same in both modes.

``execute`` runs the pipeline under the run id the claim fixed, with the checkpoints that
let a run cut short resume at its first unfinished step. ``verdict`` turns the run's
result into the delivery's next status: ``done``; ``queued`` (interrupted: resumed
later); ``needs-attention``; ``retry-wait`` then another attempt (the trigger's
``retry``); ``dead`` after the last attempt. Where that status is written (SQLite or
PostgreSQL) is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from .._checkpoint import Checkpoints
from .._engine import RunResult, run_pipeline
from .._env import read_env
from .._errors import HooklineError
from .._log import RunLog
from .._model import Pipeline
from .._recorder import Recorder
from .._runtime import Runtime
from .._secrets import read_secrets
from ..triggers._run_retry import run_retry

__all__ = ["Job", "Verdict", "execute", "verdict"]


class Job(Protocol):
    """What a run needs of a claimed delivery (``_intake_claims.Claim`` has it)."""

    @property
    def run_id(self) -> str: ...
    @property
    def pipeline(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def input(self) -> Any: ...
    @property
    def tries(self) -> int: ...


class Verdict(NamedTuple):
    """Where a delivery stands after its run."""

    status: str  # the delivery's status: done, queued, needs-attention, retry-wait, dead
    error: str | None
    retry_in: float | None  # seconds until the next attempt (retry-wait)
    run_status: str | None  # a status the run's own record is rewritten to (dead)
    outcome: str  # the status a sync reply reports (the run's, or dead)
    warning: str | None  # a line for the log (a failed attempt that will be retried)


def execute(
    pipeline: Pipeline | None,
    job: Job,
    *,
    env: Mapping[str, str],
    log: RunLog,
    recorder: Recorder | None,
    checkpoint: Checkpoints | None,
    started: Callable[[Runtime], None] = lambda runtime: None,
) -> RunResult:
    """Run ``job`` as ``job.run_id``. ``pipeline`` None: no longer served (the run fails).

    ``started(runtime)`` is called before the engine starts, so that the caller can
    cancel the run (a stop) from another thread. Never raises for a failed run: a bug in
    a step kind is a failed run too, and the worker goes on."""
    if pipeline is None:
        message = f"pipeline '{job.pipeline}' is no longer served"
        return RunResult(job.run_id, "failed", None, message)
    try:
        secrets = read_secrets(pipeline, env)
        run_env = read_env(pipeline, env)
    except HooklineError as exc:
        problems = getattr(exc, "problems", None) or [exc]
        message = "; ".join(str(p) for p in problems)
        log.error(message, event="run_failed", run_id=job.run_id)
        return RunResult(job.run_id, "failed", None, message)
    runtime = Runtime(pipeline, secrets, log=log, recorder=recorder)
    runtime.env = run_env
    started(runtime)
    try:
        return run_pipeline(
            pipeline,
            job.input,
            runtime=runtime,
            trigger=job.trigger,
            run_id=job.run_id,
            checkpoint=checkpoint,
        )
    except Exception as exc:  # a bug in a step kind: the run failed, the worker goes on
        message = f"internal error: {type(exc).__name__}: {exc}"
        log.error(message, event="run_failed", run_id=job.run_id)
        return RunResult(job.run_id, "failed", None, message)
    finally:
        runtime.close()


def verdict(job: Job, result: RunResult, pipeline: Pipeline | None) -> Verdict:
    """The delivery's next status after ``result``; a failed run is retried as the
    trigger's ``retry`` says (``job.tries`` runs so far)."""
    status = result.status
    if status == "succeeded":
        return Verdict("done", None, None, None, status, None)
    if status == "interrupted":
        return Verdict("queued", result.error, None, None, status, None)
    if status == "needs-attention":
        return Verdict("needs-attention", result.error, None, None, status, None)
    config: Mapping[str, Any] = pipeline.trigger.config if pipeline is not None else {}
    policy = run_retry(config)
    delay = policy.delay(job.tries)
    if delay is None:
        error = result.error or "the run failed"
        if policy.attempts > 1:
            error = f"dead after {job.tries} attempts; the last: {error}"
        return Verdict("dead", error, None, "dead", "dead", None)
    warning = (
        f"run {job.run_id} of '{job.pipeline}' failed (attempt {job.tries}"
        f" of {policy.attempts}); the next attempt in {delay:g}s"
    )
    return Verdict("retry-wait", result.error, delay, None, status, warning)
