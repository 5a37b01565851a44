"""Control flow without the network: if, extract, for_each, on_error, on_failure."""

from __future__ import annotations

import io
import textwrap

from hookline import load_pipeline, run_pipeline
from hookline._log import RunLog
from hookline._runtime import Runtime


def run(tmp_path, text, input=None, secrets=None):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    runtime = Runtime(pipeline, secrets or {}, log=RunLog(stream))
    result = run_pipeline(pipeline, input, runtime=runtime)
    return result, stream.getvalue()


def test_for_each_keeps_input_order_under_concurrency(tmp_path):
    result, _ = run(
        tmp_path,
        """
        version: 1
        name: order
        steps:
          - id: loop
            for_each:
              items: input
              concurrency: 8
              steps:
                - id: double
                  set: {n: "${{ item }}", i: "${{ index }}"}
        output: "${{ steps.loop[].n }}"
    """,
        list(range(200)),
    )
    assert result.ok, result.error
    assert result.output == list(range(200))


def test_for_each_batches_and_as_name(tmp_path):
    result, _ = run(
        tmp_path,
        """
        version: 1
        name: batches
        steps:
          - id: loop
            for_each:
              items: input
              as: group
              batch: 10
              steps:
                - id: size
                  set: "${{ length(group) }}"
        output: "${{ steps.loop }}"
    """,
        list(range(25)),
    )
    assert result.output == [10, 10, 5]


def test_if_extract_and_skipped_steps(tmp_path):
    result, log = run(
        tmp_path,
        """
        version: 1
        name: flow
        steps:
          - id: lead
            set: {body: {id: rec1, fields: {Name: Ana}}}
            extract:
              record_id: body.id
          - id: never
            if: "input.vip"
            set: 1
        output: {id: "${{ steps.lead.record_id }}", never: "${{ steps.never }}"}
    """,
        {"vip": False},
    )
    assert result.output == {"id": "rec1", "never": None}
    assert "never: skipped (if was false)" in log


def test_on_error_continue_and_fallback_and_on_failure(tmp_path):
    result, log = run(
        tmp_path,
        """
        version: 1
        name: errors
        steps:
          - id: soft
            fail: "soft failure"
            on_error: continue
          - id: recovered
            fail: {message: "hard failure", details: {code: 7}}
            on_error:
              steps:
                - id: fallback
                  set: "fell back after ${{ error.message }} (${{ error.details.code }})"
        output: {soft: "${{ steps.soft.error.message }}", recovered: "${{ steps.recovered }}"}
    """,
    )
    assert result.ok
    assert result.output == {
        "soft": "soft failure",
        "recovered": "fell back after hard failure (7)",
    }
    assert "soft: failed, continuing - soft failure" in log


def test_a_failed_run_runs_on_failure_steps_with_the_error(tmp_path):
    result, log = run(
        tmp_path,
        """
        version: 1
        name: alerts
        steps:
          - id: boom
            fail: "upstream said no"
        on_failure:
          - id: alert
            set: "alert: ${{ error.step }} - ${{ error.message }}"
    """,
    )
    assert not result.ok
    assert result.failed_step == "boom"
    assert result.error == "step 'boom' failed: upstream said no"
    assert "alert: ok" in log


def test_a_failing_iteration_stops_the_loop_and_names_the_step(tmp_path):
    result, _ = run(
        tmp_path,
        """
        version: 1
        name: stop
        steps:
          - id: loop
            for_each:
              items: input
              concurrency: 4
              steps:
                - id: check
                  if: "item == `13`"
                  fail: "item ${{ item }} is unlucky"
    """,
        list(range(50)),
    )
    assert not result.ok
    # named with its iteration: the loop's step and index, then the inner step
    assert result.error == "step 'loop[13].check' failed: item 13 is unlucky"


def test_expression_errors_at_run_time_name_the_step_and_location(tmp_path):
    result, _ = run(
        tmp_path,
        """
        version: 1
        name: types
        steps:
          - id: shout
            set: "${{ upper(input.count) }}"
    """,
        {"count": 3},
    )
    assert not result.ok
    assert result.error.startswith("step 'shout' failed: ")
    assert (
        "p.yaml:6:14: expression 'upper(input.count)': upper(): argument 1 must be a string, "
        "not a number: convert it with to_string()"
    ) in result.error
    assert "upper" in result.error


def test_a_loop_logs_one_line_not_one_per_item_and_no_bar_off_a_terminal(tmp_path):
    result, log = run(
        tmp_path,
        """
        version: 1
        name: quiet-loop
        steps:
          - id: loop
            for_each:
              items: input
              steps:
                - id: each
                  set: "${{ item }}"
    """,
        list(range(50)),
    )
    assert result.ok
    assert log.splitlines()[0].startswith("loop: ok (")
    assert len(log.splitlines()) == 1
    assert "[#" not in log and "\r" not in log
