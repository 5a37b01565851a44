"""A step's ``timeout`` bounds the whole step, on every kind: the engine's retries, a
for_each's iterations (sequential or on worker threads), waits before a retry."""

from __future__ import annotations

import io
import textwrap
import time

import pytest

from hookline import load_pipeline, run_pipeline
from hookline._log import RunLog
from hookline._runtime import DeadlinePassed, Runtime


def run(tmp_path, text, input=None):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    runtime = Runtime(pipeline, {}, log=RunLog(stream))
    started = time.monotonic()
    result = run_pipeline(pipeline, input, runtime=runtime)
    return result, stream.getvalue(), time.monotonic() - started


def test_the_engines_retries_stop_at_the_steps_timeout_and_on_error_sees_it(tmp_path):
    result, log, elapsed = run(
        tmp_path,
        """
        version: 1
        name: retried
        steps:
          - id: loop
            timeout: 700ms
            retry: {attempts: 100, initial_delay: 100ms, multiplier: 1}
            for_each:
              items: "[`1`]"
              steps:
                - id: never
                  fail: "not yet"
            on_error:
              steps:
                - id: said
                  set: "${{ error.step }}: ${{ error.message }}"
        output: "${{ steps.loop }}"
        """,
    )
    assert result.ok, result.error
    assert result.output == "loop: timed out after 0.7s"
    assert "loop: failed, running on_error steps - timed out after 0.7s" in log
    assert "warning: loop: attempt 1 failed (not yet); retrying in" in log
    assert elapsed < 0.7 + 1


def test_a_wait_never_runs_past_the_deadline(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: w\nsteps:\n  - {id: a, set: 1}\n", encoding="utf-8")
    runtime = Runtime(load_pipeline(path), {}, log=RunLog(io.StringIO()))
    started = time.monotonic()
    with runtime.deadline_scope(0.3), pytest.raises(DeadlinePassed):
        runtime.sleep(30)
    assert 0.25 < time.monotonic() - started < 0.3 + 1
    with runtime.deadline_scope(5):
        runtime.sleep(0.01)  # within the deadline: no error
        with runtime.deadline_scope(60) as inner:  # an inner scope never extends an outer
            assert inner is not None and inner - time.monotonic() <= 5


def test_a_sequential_for_each_starts_no_iteration_after_its_timeout(tmp_path, rest_server):
    result, _, elapsed = run(
        tmp_path,
        f"""
        version: 1
        name: loop
        steps:
          - id: loop
            timeout: 1s
            for_each:
              items: input
              steps:
                - id: wait
                  rest: {{url: "{rest_server.url}/slow?seconds=${{{{ item }}}}"}}
        """,
        [0.3] * 10,
    )
    assert result.error == "step 'loop' failed: timed out after 1s"
    assert len(rest_server.requests_to("/slow")) <= 5
    assert elapsed < 1 + 1


def test_worker_threads_get_the_for_each_deadline(tmp_path, rest_server):
    result, _, elapsed = run(
        tmp_path,
        f"""
        version: 1
        name: loop
        steps:
          - id: loop
            timeout: 1s
            for_each:
              items: input
              concurrency: 3
              steps:
                - id: wait
                  rest: {{url: "{rest_server.url}/slow?seconds=${{{{ item }}}}"}}
        """,
        [0.3] * 30,
    )
    assert result.error == "step 'loop' failed: timed out after 1s"
    assert len(rest_server.requests_to("/slow")) < 20
    assert elapsed < 1 + 1


def test_the_shorter_outer_deadline_wins_and_names_the_outer_step(tmp_path):
    result, _, elapsed = run(
        tmp_path,
        """
        version: 1
        name: nested
        steps:
          - id: loop
            timeout: 800ms
            for_each:
              items: "[`1`]"
              steps:
                - id: inner
                  timeout: 30s
                  retry: {attempts: 100, initial_delay: 100ms, multiplier: 1}
                  on_error: continue
                  for_each:
                    items: "[`1`]"
                    steps:
                      - id: never
                        fail: "not yet"
        """,
    )
    # The inner step's on_error: continue does not swallow the loop's timeout.
    assert result.error == "step 'loop' failed: timed out after 0.8s"
    assert elapsed < 0.8 + 1


def test_a_step_within_its_timeout_is_unaffected(tmp_path, rest_server):
    result, _, _ = run(
        tmp_path,
        f"""
        version: 1
        name: quick
        steps:
          - id: loop
            timeout: 10s
            retry: {{attempts: 2, initial_delay: 10ms}}
            for_each:
              items: "[`0`, `0.05`]"
              steps:
                - id: wait
                  rest: {{url: "{rest_server.url}/slow?seconds=${{{{ item }}}}"}}
        output: "${{{{ steps.loop[].body.slept }}}}"
        """,
    )
    assert result.ok, result.error
    assert result.output == [0, 0.05]


def test_for_each_keeps_input_order_when_later_items_finish_first(tmp_path, rest_server):
    durations = [0.4, 0.3, 0.2, 0.1, 0.0, 0.35, 0.05, 0.0]
    result, _, _ = run(
        tmp_path,
        f"""
        version: 1
        name: order
        steps:
          - id: loop
            for_each:
              items: input
              concurrency: 8
              steps:
                - id: wait
                  rest: {{url: "{rest_server.url}/slow?seconds=${{{{ item }}}}"}}
              output: "${{{{ steps.wait.body.slept }}}}"
        output: "${{{{ steps.loop }}}}"
        """,
        durations,
    )
    assert result.ok, result.error
    assert result.output == durations
    # The server saw them finish in another order: completion order would fail the test.
    finished = [r.time for r in rest_server.requests_to("/slow")]
    assert len(finished) == len(durations)
