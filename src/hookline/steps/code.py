"""The ``code`` step: call a Python function from a file beside the pipeline.

The function runs in a worker process from a warm pool (``_code_pool``), with the step's
``timeout`` and a memory limit; its keyword arguments and return value are JSON-like. The
code is trusted (it is in the repository): the process boundary guards the run against a
crash, a memory blow-up or a hang of the function, not against what the function does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._frozen import Frozen
from .._jsonsafe import UntrustedJSONError
from .._runtime import DeadlinePassed
from .._schemabits import Schema, obj, prop
from ..expr import Template
from . import _code_check

if TYPE_CHECKING:
    from .._model import Step
    from .._plan import Builder, Scope
    from .._runtime import Runtime

DEFAULT_MEMORY_MB = 512
"""The worker's address-space limit (RLIMIT_AS) when the step sets no ``memory_mb``."""

DEFAULT_TIMEOUT = 300.0
"""How long a call may take when neither the step nor a step around it sets a timeout."""

MAX_OUTPUT = 64 * 1024
"""The most characters of the function's stdout, and of its stderr, kept per call (the log
and the history show the rest as a truncation note)."""

STEP_SCHEMA: Schema = prop(
    obj(
        {
            "function": prop(
                {"type": "string", "pattern": r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$"},
                "FILE.py:FUNCTION: a top-level function of a Python file in the pipeline's "
                "folder (or below it).",
                "code/score.py:score",
            ),
            "args": prop(
                {"type": "object"},
                "Keyword arguments of the function (JSON-like values whose strings may hold "
                "`${{ }}`); check verifies that their names fit its signature.",
                {"lead": "${{ input }}", "threshold": 50},
            ),
            "memory_mb": prop(
                {"type": "integer", "minimum": 64, "maximum": 65536},
                f"The worker process's memory limit in MiB (default {DEFAULT_MEMORY_MB}).",
                1024,
            ),
        },
        required=["function"],
    ),
    "Call a Python function from the repository in a separate process; its JSON-like "
    "return value is the step's result.",
    {"function": "code/score.py:score", "args": {"lead": "${{ input }}"}},
)


class CodeSpec(Frozen):
    __slots__ = _fields = ("file", "shown", "function", "args", "memory")
    file: str
    shown: str
    function: str
    args: Template | None
    memory: int

    def __init__(
        self, file: str, shown: str, function: str, args: Template | None, memory: int
    ) -> None:
        self._fill(locals())


def build(raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope) -> CodeSpec | None:
    written = raw["function"]
    args_path = (*path, "args") if "args" in raw else None
    args = builder.template(args_path, scope) if args_path is not None else None
    located = _code_check.locate(builder, (*path, "function"), written)
    if located is None:
        return None
    file, name = located
    shown = written.rpartition(":")[0]
    params = _code_check.signature(builder, (*path, "function"), file, shown, name)
    if params is None:
        return None
    _code_check.check_args(builder, (*path, "function"), args_path, params, name)
    memory = raw.get("memory_mb", DEFAULT_MEMORY_MB) * 1024 * 1024
    return CodeSpec(str(file), shown, name, args, memory)


def run(spec: CodeSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    args = spec.args.render(context) if spec.args is not None else {}
    where = f"{spec.shown}:{spec.function}"
    started = time.monotonic()
    try:
        answer = _call(spec, step, args, where, runtime)
    except (StepFailed, DeadlinePassed) as exc:
        error = exc.reason if isinstance(exc, StepFailed) else "the step's time ran out"
        _record(spec, step, args, None, error, started, runtime)
        raise
    _report_output(spec, step, args, answer, started, runtime)
    if answer.get("ok"):
        return answer["result"]
    if "not_json" in answer:
        raise StepFailed(step.id, f"{where} must return a JSON-like value: {answer['not_json']}")
    frames = [
        {"file": _shown(spec, f[0]), "line": f[1], "function": f[2], "code": f[3]}
        for f in answer.get("frames", [])
    ]
    message = f"{answer['type']}: {answer['message']}" if answer["message"] else answer["type"]
    if frames:
        last = frames[-1]
        message += f" (at {last['file']}:{last['line']} in {last['function']})"
        runtime.log.error(f"{step.id}: traceback of {where} (most recent call last):")
        for frame in frames:
            runtime.log.error(
                f"{step.id}:   {frame['file']}:{frame['line']} in {frame['function']}: "
                f"{frame['code']}"
            )
    detail = {"type": answer["type"], "message": answer["message"], "traceback": frames}
    raise StepFailed(step.id, message, detail)


def _call(spec: CodeSpec, step: Step, args: Any, where: str, runtime: Runtime) -> dict[str, Any]:
    """The worker's answer; what went wrong on the way as a step failure."""
    from ._code_pool import POOL, AnswerTooLarge, CallCancelled, TimedOut, WorkerDied

    deadline = runtime.deadline
    default = deadline is None
    if default:
        deadline = time.monotonic() + DEFAULT_TIMEOUT
    request = {"file": spec.file, "function": spec.function, "args": args}
    try:
        return POOL.call(spec.memory, request, deadline, lambda: runtime.cancelled)
    except CallCancelled:
        runtime.check_cancelled()
        raise
    except TimedOut:
        if default:
            raise StepFailed(
                step.id, f"{where} did not return within {DEFAULT_TIMEOUT:g}s (set a timeout)"
            ) from None
        raise DeadlinePassed() from None
    except WorkerDied as exc:
        mib = spec.memory // 1024 // 1024
        raise StepFailed(
            step.id,
            f"the process running {where} ended without answering: {exc} "
            f"(a crash, or the memory limit of {mib} MiB)",
        ) from None
    except UntrustedJSONError as exc:
        raise StepFailed(step.id, f"{where} returned a value hookline refuses: {exc}") from None
    except AnswerTooLarge:
        raise StepFailed(
            step.id, f"{where} returned more than the 64 MiB an answer may take"
        ) from None


def _shown(spec: CodeSpec, file: str) -> str:
    """The user's file as the step names it, never a machine path."""
    return spec.shown if file == spec.file else Path(file).name


def _report_output(
    spec: CodeSpec,
    step: Step,
    args: Any,
    answer: dict[str, Any],
    started: float,
    runtime: Runtime,
) -> None:
    """The function's stdout and stderr to the log and the history, redacted and clipped."""
    shown: dict[str, str] = {}
    for stream in ("stdout", "stderr"):
        text = answer.get(stream) or ""
        if not text:
            continue
        shown[stream] = runtime.redactor.clip(text, MAX_OUTPUT)
        for line in shown[stream].splitlines():
            runtime.log.info(f"{step.id}: {stream}: {line}", step=step.id)
    if answer.get("ok"):
        outcome = "returned"
    elif "not_json" in answer:
        outcome = "returned a value that is not JSON-like"
    else:
        outcome = f"raised {answer.get('type')}"
    _record(spec, step, args, (outcome, shown), None, started, runtime)


def _record(
    spec: CodeSpec,
    step: Step,
    args: Any,
    outcome: tuple[str, dict[str, str]] | None,
    error: str | None,
    started: float,
    runtime: Runtime,
) -> None:
    """The call as an attempt in the run history, shaped as connectors' attempts are, so
    that ``runs show`` lists it: → CALL FILE:FUNCTION, the arguments; ← what came back,
    with what the function printed (the recorder redacts it all)."""
    response = None
    if outcome is not None:
        response = {"status": outcome[0], "body": outcome[1] or None}
    runtime.record_attempt(
        step.id,
        {
            "attempt": 1,
            "duration_ms": (time.monotonic() - started) * 1000,
            "request": {
                "method": "CALL",
                "url": f"{spec.shown}:{spec.function}",
                "body": args,
            },
            "response": response,
            "error": error,
        },
    )
