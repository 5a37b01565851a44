"""What the run history receives: every field redacted, and a run stopped by a signal
closed as interrupted with a plain message."""

from __future__ import annotations

import base64
import io
import json
import textwrap
from typing import Any

import pytest

from hookline import load_pipeline, run_pipeline
from hookline._log import RunLog
from hookline._runtime import Interrupted, Runtime

SECRET = "tok/Secret+value=42é"


class Recording:
    """A Recorder that keeps every call it gets, as a run history would store them."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.stop_at = stop_at

    def run_started(self, run_id: str, pipeline: Any, trigger: str, input: Any) -> None:
        self.calls.append(("run_started", input))

    def step_attempt(self, run_id: str, step_id: str, attempt: dict[str, Any]) -> None:
        self.calls.append(("step_attempt", attempt))

    def step_finished(
        self, run_id: str, step_id: str, status: str, seconds: float, result: Any, error: Any
    ) -> None:
        self.calls.append(("step_finished", {"step": step_id, "result": result, "error": error}))
        if step_id == self.stop_at:
            raise Interrupted("SIGTERM")  # as the CLI's signal handler does, mid-run

    def run_finished(self, run_id: str, status: str, output: Any, error: Any) -> None:
        self.calls.append(("run_finished", {"status": status, "output": output, "error": error}))

    def dump(self) -> str:
        return json.dumps(self.calls, ensure_ascii=False)


def run(tmp_path, text, input=None, recorder=None, secrets=None):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    runtime = Runtime(pipeline, secrets or {}, log=RunLog(stream), recorder=recorder)
    return run_pipeline(pipeline, input, runtime=runtime), stream.getvalue()


PIPELINE = """
version: 1
name: leaky
secrets: [TOKEN]
steps:
  - id: copy
    set: {seen: "${{ input.token }}", again: "${{ secrets.TOKEN }}"}
  - id: soft
    fail: "refused ${{ secrets.TOKEN }}"
    on_error: continue
  - id: hard
    fail: {message: "bad token ${{ input.token }}", details: {token: "${{ input.token }}"}}
on_failure:
  - id: alert
    set: "alert: ${{ error.message }}"
"""


def test_every_field_the_history_receives_is_redacted(tmp_path):
    recorder = Recording()
    forms = [
        SECRET,
        json.dumps(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
    ]
    result, log = run(
        tmp_path,
        PIPELINE,
        {"token": SECRET, "nested": [{"k": f"Bearer {SECRET}"}], "encoded": forms[2]},
        recorder,
        {"TOKEN": SECRET},
    )
    assert result.status == "failed"
    dump = recorder.dump()
    for form in forms:
        assert form not in dump, form
        assert form not in log
    started = recorder.calls[0]
    assert started == (
        "run_started",
        {"token": "***", "nested": [{"k": "Bearer ***"}], "encoded": "***"},
    )
    finished = {c[1]["step"]: c[1] for c in recorder.calls if c[0] == "step_finished"}
    assert finished["copy"]["result"] == {"seen": "***", "again": "***"}
    assert finished["soft"]["error"] == "refused ***"  # a step's error message, masked
    assert finished["hard"]["error"] == "bad token ***"
    assert finished["alert"]["result"] == "alert: bad token ***"
    assert recorder.calls[-1] == (
        "run_finished",
        {"status": "failed", "output": None, "error": "step 'hard' failed: bad token ***"},
    )


def test_a_signal_closes_the_run_as_interrupted_with_a_plain_message(tmp_path):
    recorder = Recording(stop_at="first")
    with pytest.raises(Interrupted):
        run(
            tmp_path,
            """
            version: 1
            name: stopped
            steps:
              - id: first
                set: 1
              - id: second
                set: 2
            """,
            recorder=recorder,
        )
    assert recorder.calls[-1] == (
        "run_finished",
        {"status": "interrupted", "output": None, "error": "interrupted by SIGTERM"},
    )
    assert [c[1]["step"] for c in recorder.calls if c[0] == "step_finished"] == ["first"]


def test_a_signal_during_on_failure_steps_still_closes_the_run(tmp_path):
    recorder = Recording(stop_at="alert")
    with pytest.raises(Interrupted):
        run(
            tmp_path,
            """
            version: 1
            name: stopped-late
            steps:
              - id: boom
                fail: "upstream said no"
            on_failure:
              - id: alert
                set: "alert: ${{ error.message }}"
            """,
            recorder=recorder,
        )
    assert recorder.calls[-1] == (
        "run_finished",
        {"status": "interrupted", "output": None, "error": "interrupted by SIGTERM"},
    )
    assert [c[0] for c in recorder.calls].count("run_finished") == 1


def test_a_signal_while_the_run_is_being_closed_closes_it_again(tmp_path):
    class FailsOnce(Recording):
        def run_finished(self, run_id: str, status: str, output: Any, error: Any) -> None:
            if status == "succeeded":  # the signal lands during the write
                raise Interrupted("SIGHUP")
            super().run_finished(run_id, status, output, error)

    recorder = FailsOnce()
    with pytest.raises(Interrupted):
        run(tmp_path, "version: 1\nname: late\nsteps:\n  - {id: one, set: 1}\n", recorder=recorder)
    assert recorder.calls[-1] == (
        "run_finished",
        {"status": "interrupted", "output": None, "error": "interrupted by SIGHUP"},
    )
