"""Execute a compiled pipeline: steps in order, with if / retry / on_error / extract.

The engine knows step kinds only through the registry in ``hookline.steps``; it never
touches the network itself (connectors do).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._errors import RunFailed, StepFailed
from ._frozen import Frozen
from ._model import Pipeline, Step
from ._redact import Redactor
from ._retry import Backoff
from ._runtime import Cancelled, DeadlinePassed, DryRunStop, Interrupted, Runtime
from .expr import ExpressionError
from .steps import STEP_KINDS, handles_retry

# The checkpoint and state modules load only for the runs that use them (a run of serve,
# a pipeline that reads or saves state): a cron run of a plain pipeline skips their
# import, and tests/test_lazy_imports.py keeps it so.
if TYPE_CHECKING:
    from ._checkpoint import Checkpoints

Finish = Callable[..., None]
"""Writes the run's final record: (status, output, error, commit=None)."""


class RunResult(Frozen):
    __slots__ = _fields = ("run_id", "status", "output", "error", "failed_step", "state_update")
    run_id: str
    status: str  # "succeeded" | "failed"
    output: Any
    error: str | None
    failed_step: str | None
    # What save_state rendered (redacted); committed only when the status is "succeeded"
    # and the run keeps a history.
    state_update: Mapping[str, Any] | None

    def __init__(
        self,
        run_id: str,
        status: str,
        output: Any = None,
        error: str | None = None,
        failed_step: str | None = None,
        state_update: Mapping[str, Any] | None = None,
    ) -> None:
        self._fill(locals())

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def truthy(value: Any) -> bool:
    """JMESPath truth: false, null, "", [] and {} are false; everything else is true."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


def error_object(step_id: str | None, exc: Exception, redactor: Redactor) -> dict[str, Any]:
    """What fallback steps and on_failure see as ``error``, redacted as a whole: a step
    that forwards ``error`` (an alert to a chat or a ticket system) sends it to another
    origin, and an upstream's error body often echoes the credential it was sent."""
    return redactor.value(
        {
            "step": step_id,
            "message": getattr(exc, "reason", None) or str(exc),
            "status": getattr(exc, "status", None),
            "details": getattr(exc, "detail", None),
            # what a connector adds for branching, e.g. a SOAP fault: error.fault.code
            **(getattr(exc, "fields", None) or {}),
        }
    )


def execute_steps(steps: tuple[Step, ...], context: dict[str, Any], runtime: Runtime) -> Any:
    """Run ``steps`` in order inside ``context``; return the last step's result."""
    last = None
    for step in steps:
        last = execute_step(step, context, runtime)
    return last


def _attempts(step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    """Run the step's kind; kinds that do not retry themselves are retried here."""
    if runtime.answer_point is not None:  # `hookline test`: the case may give the result
        given = runtime.answer_point.step_result(step, context)
        if given is not None:
            return given.value
    kind = STEP_KINDS[step.kind]
    # Connectors retry by their own rules (status codes, idempotency); a fail step fails on
    # purpose, so running it again cannot help.
    if step.retry is None or handles_retry(kind):
        return kind.run(step.spec, step, context, runtime)
    backoff = Backoff(step.retry)
    while True:
        try:
            return kind.run(step.spec, step, context, runtime)
        except StepFailed as exc:
            delay = backoff.next_delay()
            if delay is None:
                raise
            runtime.log.warning(
                f"{step.id}: attempt {backoff.attempt - 1} failed ({exc.reason}); "
                f"retrying in {delay:.2f}s",
                event="retry",
                step=step.id,
            )
            runtime.sleep(delay)  # raises DeadlinePassed rather than wake after the deadline


def execute_step(step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    runtime.check_cancelled()
    if runtime.dry_run:
        runtime.check_dry_run(step.id, step.reads)
    started = time.monotonic()
    outer = runtime.deadline
    # This step's own timeout is the one that runs out, unless a step around it ends first.
    owns = step.timeout is not None and (outer is None or started + step.timeout <= outer)
    failure: StepFailed | None = None
    with runtime.deadline_scope(step.timeout):
        try:
            if step.condition is not None and not truthy(step.condition.evaluate(context)):
                context["steps"][step.id] = None
                runtime.record_step(step.id, "skipped", time.monotonic() - started)
                return None
            result = _attempts(step, context, runtime)
            runtime.check_deadline()  # a result that came too late is a timeout too
            if step.extract:
                result = {name: expr.evaluate(result) for name, expr in step.extract}
        except DeadlinePassed:
            if not owns:
                raise  # the deadline of a step around this one: that step fails
            failure = StepFailed(step.id, f"timed out after {step.timeout:g}s")
        except StepFailed as exc:
            if not owns and _past(runtime.deadline):
                # A connector that gave up because the deadline of a step around this one
                # passed: that step fails ("timed out after 5s"), not this one's on_error.
                raise DeadlinePassed() from exc
            failure = exc
        except ExpressionError as exc:
            failure = StepFailed(step.id, str(exc))
    if failure is not None:
        # on_error steps run outside the failed step's deadline (under any outer one).
        result = _handle_failure(step, failure, context, runtime, started)
    else:
        sent = not (runtime.dry_run and runtime.was_dry(step.id))
        status = "ok" if sent else "not sent (dry run)"
        runtime.record_step(step.id, status, time.monotonic() - started, result)
    context["steps"][step.id] = result
    return result


def execute_resumable(
    pipeline: Pipeline, context: dict[str, Any], runtime: Runtime, checkpoint: Checkpoints
) -> None:
    """Run the top-level steps, recording each in ``checkpoint``; when an earlier attempt
    of the run recorded some, reuse what finished and redo what started only if safe."""
    from ._checkpoint import NeedsAttention
    from ._checkpoint_rules import redo_rule

    marks = checkpoint.load()
    if any(mark.digest != pipeline.digest for mark in marks.values()):
        raise NeedsAttention(
            None,
            "the pipeline file changed since this run began, so the results it recorded "
            "may not fit the new steps; a person must check what the run did before it "
            "is run again",
        )
    for index, step in enumerate(pipeline.steps):
        mark = marks.get(index)
        if mark is not None and mark.phase == "finished":
            runtime.check_cancelled()
            context["steps"][step.id] = mark.result
            runtime.record_step(step.id, "reused (finished before the restart)", 0.0, mark.result)
            continue
        if mark is not None:  # it had started when the process stopped
            if not mark.safe:
                raise NeedsAttention(
                    step.id,
                    f"step '{step.id}' had started when the run was cut short and may have "
                    f"reached the server; {mark.why}: a person must check whether it took "
                    "effect before the run is started again",
                )
            runtime.log.info(
                f"{step.id}: sent again: it had started before the restart; {mark.why}"
            )
        rule = redo_rule(step, pipeline)
        # A run cancelled (serve stopping) before this step must not leave it marked
        # started: it sent nothing, and the next start may simply run it.
        runtime.check_cancelled()
        if rule.reaches_server:
            checkpoint.started(index, step.id, pipeline.digest, rule.safe, rule.why)
        execute_step(step, context, runtime)
        checkpoint.finished(index, step.id, pipeline.digest, context["steps"][step.id])


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _handle_failure(
    step: Step, exc: StepFailed, context: dict[str, Any], runtime: Runtime, started: float
) -> Any:
    mode = step.on_error.mode
    elapsed = time.monotonic() - started
    if mode == "fail":
        runtime.record_step(step.id, "failed", elapsed, error=exc.reason)
        raise exc
    error = error_object(exc.step_id, exc, runtime.redactor)  # an inner step, in a for_each
    if mode == "continue":
        runtime.record_step(step.id, "failed, continuing", elapsed, error=exc.reason)
        return {"error": error}
    runtime.record_step(step.id, "failed, running on_error steps", elapsed, error=exc.reason)
    fallback_context = {**context, "error": error}
    return execute_steps(step.on_error.steps, fallback_context, runtime)


def run_pipeline(
    pipeline: Pipeline,
    input: Any = None,
    *,
    runtime: Runtime,
    trigger: str = "manual",
    run_id: str | None = None,
    state: Mapping[str, Any] | None = None,
    checkpoint: Checkpoints | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run the pipeline once. Failures are returned as a failed RunResult, not raised.

    ``run_id``: the id the run has in the history (the intake fixes it at delivery);
    default a new random one. ``state``: the state the run starts from, given by the
    caller (an offline test), never committed; None: the pipeline's stored state, read
    from the run history's database when the run keeps a history, its ``save_state``
    update committed with the run's final record (docs/state.md). ``checkpoint``: where
    the run records each top-level step, to resume after a crash (``_checkpoint``).
    """
    run_id = run_id or os.urandom(16).hex()  # uuid4().hex without importing uuid
    runtime.log.run_started(run_id, pipeline.name, trigger)  # JSON: run_started; progress
    runtime.run_id = run_id
    runtime.execute_steps = execute_steps
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.monotonic()
    context: dict[str, Any] = {
        "input": input,
        "steps": {},
        "vars": {},
        "secrets": dict(runtime.secrets),
        # Set by whoever read the environment (_env.read_env); else the defaults alone.
        "env": dict(runtime.env)
        if runtime.env is not None
        else {name: default for name, default in pipeline.env if default is not None},
        "state": {},
        "run": {"id": run_id, "time": started_at, "trigger": trigger, "pipeline": pipeline.name},
    }
    closed = False

    def finish(
        status: str, output: Any, error: str | None, commit: Callable[[Any], None] | None = None
    ) -> None:
        nonlocal closed
        runtime.recorder.run_finished(run_id, status, output, error, commit=commit)
        closed = True  # only once written: a signal during the write closes it again
        runtime.log.run_ended(status, time.monotonic() - clock, kept=runtime.history_enabled)
        if checkpoint is not None and status not in _resumable():
            checkpoint.clear()

    try:
        runtime.recorder.run_started(run_id, pipeline, trigger, input)
        return _run(pipeline, context, runtime, overrides, state, checkpoint, finish)
    except BaseException as exc:
        # A signal, Ctrl-C or a bug, at any point (on_failure steps included): the history
        # must not show the run as running forever.
        runtime.cancel(_interruption(exc))  # other threads (for_each workers) stop too
        if not closed:
            if isinstance(exc, Interrupted | KeyboardInterrupt):
                finish("interrupted", None, _interruption(exc))
            else:
                finish("failed", None, f"{type(exc).__name__}: {exc}")
        raise


def _run(
    pipeline: Pipeline,
    context: dict[str, Any],
    runtime: Runtime,
    overrides: Mapping[str, Any] | None,
    given_state: Mapping[str, Any] | None,
    checkpoint: Checkpoints | None,
    finish: Finish,
) -> RunResult:
    run_id = runtime.run_id
    # A pipeline that neither reads `state` nor saves any skips the state's read (and its
    # module's import): its context["state"] stays empty, which nothing can tell apart.
    keeps_state = given_state is not None or pipeline.reads_state
    try:
        if keeps_state:
            from ._state_run import open_state

            run_state = open_state(pipeline, runtime, given_state)
            context["state"] = run_state.snapshot.values
        for name, template in pipeline.vars:
            if overrides and name in overrides:
                context["vars"][name] = overrides[name]
                continue
            context["vars"][name] = template.render(
                {k: v for k, v in context.items() if k != "vars"}
            )
        runtime.connection_context = {k: v for k, v in context.items() if k != "steps"}
        if checkpoint is None or runtime.dry_run:
            execute_steps(pipeline.steps, context, runtime)
        else:
            execute_resumable(pipeline, context, runtime, checkpoint)
        if runtime.dry_run:
            runtime.check_dry_run("output", pipeline.output_reads)
        output = pipeline.output.render(context) if pipeline.output is not None else None
        update = None
        if keeps_state and not runtime.dry_run:
            from ._state_run import render_update

            update = render_update(pipeline, context)
    except Cancelled as exc:  # runtime.cancel(): stopped on purpose, not failed
        message = runtime.redactor.text(str(exc))
        finish("interrupted", None, message)
        return RunResult(run_id, "interrupted", None, message)
    except DryRunStop as stop:
        finish("dry-run", None, str(stop))
        return RunResult(run_id, "dry-run", None, str(stop), stop.step_id)
    except (RunFailed, ExpressionError) as exc:
        attention = _needs_attention(exc, checkpoint)
        failed_step = (
            getattr(exc, "step_id", None) if isinstance(exc, StepFailed) or attention else None
        )
        status = "needs-attention" if attention else "failed"
        message = runtime.redactor.text(str(exc))
        _run_on_failure(pipeline, context, runtime, failed_step, exc)
        finish(status, None, message)
        return RunResult(run_id, status, None, message, failed_step)
    output = runtime.redactor.value(output)
    if not keeps_state:
        finish("succeeded", output, None)
        return RunResult(run_id, "succeeded", output)
    from ._state import StateFailed
    from ._store import HistoryOff

    shown = runtime.redactor.value(update)
    try:
        finish("succeeded", output, None, run_state.commit_action(pipeline, update, runtime))
    except (StateFailed, HistoryOff) as exc:  # nothing of the run's end was written
        message = runtime.redactor.text(str(exc))
        if isinstance(exc, HistoryOff):
            message = f"the state update was not saved: {message}"
        _run_on_failure(pipeline, context, runtime, None, exc)
        finish("failed", None, message)
        return RunResult(run_id, "failed", None, message, None, shown)
    return RunResult(run_id, "succeeded", output, state_update=shown)


def _resumable() -> frozenset[str]:
    from ._checkpoint import RESUMABLE

    return RESUMABLE


def _needs_attention(exc: Exception, checkpoint: Checkpoints | None) -> bool:
    """Only a resumed run (one with checkpoints) can stop for a person's attention."""
    if checkpoint is None:
        return False
    from ._checkpoint import NeedsAttention

    return isinstance(exc, NeedsAttention)


def _interruption(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return str(exc)  # "interrupted by SIGTERM"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by SIGINT (Ctrl-C)"
    return "the run was interrupted"


def _run_on_failure(
    pipeline: Pipeline,
    context: dict[str, Any],
    runtime: Runtime,
    failed_step: str | None,
    exc: Exception,
) -> None:
    if not pipeline.on_failure:
        return
    # step None: vars or output failed, not a step
    error = error_object(failed_step, exc, runtime.redactor)
    try:
        execute_steps(pipeline.on_failure, {**context, "error": error}, runtime)
    except (RunFailed, ExpressionError) as inner:
        runtime.log.error(f"on_failure steps failed too: {inner}")
