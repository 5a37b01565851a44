"""Run one test case: the pipeline, its answers, and no history, state or real home.

The case's run is a real ``run_pipeline``: templates, auth, pagination, retries, loops,
``on_error`` and ``save_state`` all run. What differs is only what a test must not touch:
requests are answered by the case (``_point``), secrets are placeholders, retries do not
wait, nothing is recorded and no state is committed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._engine import run_pipeline
from .._env import read_env
from .._errors import PipelineInvalid
from .._inputs import check_input
from .._log import RunLog
from .._model import Pipeline
from .._runtime import Runtime
from ._load import Case, TestFile
from ._point import AnswerPoint, CaseStopped, Sent


@dataclass
class RunView:
    """What a case's run came to, as the assertions see it (redacted)."""

    status: str
    error: str | None = None
    failed_step: str | None = None
    output: Any = None
    state_update: Any = None
    stopped: str | None = None  # the case could not go on (CaseStopped)
    sent: list[Sent] = field(default_factory=list)
    log: str = ""
    point: AnswerPoint | None = None


class _Quiet:
    """A recorder that keeps nothing: it only makes loops tag their iterations
    (``in_iteration``), which the answer point matches ``create[3]`` by."""

    def run_started(self, *args: Any, **kwargs: Any) -> None:
        return None

    def step_attempt(self, *args: Any, **kwargs: Any) -> None:
        return None

    def step_finished(self, *args: Any, **kwargs: Any) -> None:
        return None

    def iteration_finished(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_finished(self, *args: Any, **kwargs: Any) -> None:
        return None


def placeholder(name: str) -> str:
    """The value a declared secret has in a test when the case gives none."""
    return f"test-secret-{name}"


def case_secrets(pipeline: Pipeline, case: Case, environ: dict[str, str] | None) -> dict[str, str]:
    """Placeholders (or the case's values); while recording, the real environment's."""
    given = case.setup.get("secrets", {})
    if environ is not None:
        from .._secrets import read_secrets

        return read_secrets(pipeline, environ)
    return {name: given.get(name, placeholder(name)) for name in pipeline.secrets}


def _no_wait(seconds: float) -> None:
    return None  # retries and Retry-After do not wait in a test


@contextlib.contextmanager
def scratch_home() -> Iterator[None]:
    """A case touches no real hookline home, and no case sees what another left: what a
    run would keep there (fetched WSDLs in their cache) goes to a temporary one."""
    old = os.environ.get("HOOKLINE_HOME")
    with tempfile.TemporaryDirectory(prefix="hookline-test-") as scratch:
        os.environ["HOOKLINE_HOME"] = scratch
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("HOOKLINE_HOME", None)
            else:
                os.environ["HOOKLINE_HOME"] = old


def run_case(
    tf: TestFile,
    case: Case,
    *,
    recording: bool = False,
    allow_writes: bool = False,
) -> RunView:
    with scratch_home():
        return _run_case(tf, case, recording=recording, allow_writes=allow_writes)


def _run_case(
    tf: TestFile,
    case: Case,
    *,
    recording: bool = False,
    allow_writes: bool = False,
) -> RunView:
    pipeline = tf.pipeline
    secrets = case_secrets(pipeline, case, dict(os.environ) if recording else None)
    stream = io.StringIO()
    log = RunLog(stream, level="verbose" if recording else "normal")
    wait = time.sleep if recording else _no_wait  # real services: their pace, their waits
    runtime = Runtime(pipeline, secrets, log=log, recorder=_Quiet(), sleep=wait)  # type: ignore[arg-type]
    point = AnswerPoint(
        case.answers, runtime.redactor, recording=recording, allow_writes=allow_writes
    )
    point.runtime = runtime
    runtime.answer_point = point
    try:
        # The case's env and the pipeline's defaults; the real environment is not read. A
        # name with neither fails the case as `hookline run` refuses to start.
        runtime.env = read_env(pipeline, case.setup.get("env", {}))
    except PipelineInvalid as exc:
        runtime.close()
        said = "; ".join(
            f"{p.file}:{p.line}:{p.col}: {_for_a_case(p.message)}" for p in exc.problems
        )
        return RunView("failed", stopped=runtime.redactor.text(said), point=point)
    view = RunView("failed", point=point)
    try:
        value = _input(pipeline, case)
        result = run_pipeline(
            pipeline,
            value,
            runtime=runtime,
            state=case.setup.get("state", {}),
            overrides=case.setup.get("vars", {}),
            run_id=f"test-{case.index}",
        )
        view.status = result.status
        view.error = result.error
        view.failed_step = result.failed_step
        view.output = result.output
        view.state_update = result.state_update
    except PipelineInvalid as exc:  # the case's input breaks the input_schema
        said = "; ".join(p.message for p in exc.problems)
        view.error = runtime.redactor.text(f"the input breaks the trigger's input_schema: {said}")
    except CaseStopped as exc:
        view.stopped = runtime.redactor.text(exc.message)
    finally:
        runtime.close()
    view.sent = point.sent
    view.log = runtime.redactor.text(stream.getvalue())
    return view


def _for_a_case(message: str) -> str:
    """The run's message about an unset env name, with the way a case sets it."""
    head, sep, _ = message.partition(": set the environment variable ")
    if not sep:
        return message
    name = head.split("'")[1]
    return f"{head}: give the case a value for it (env: {{{name}: ...}}) or the pipeline a default"


def _input(pipeline: Pipeline, case: Case) -> Any:
    if "input" not in case.setup:
        if pipeline.trigger.kind == "schedule":
            return pipeline.trigger.config.get("input", {})
        if pipeline.trigger.input_schema is None:
            return None
    value = case.setup.get("input")
    check_input(pipeline, value, (f"input of case '{case.name}'", json.dumps(value, indent=2)))
    return value


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - started
