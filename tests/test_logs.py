"""The run log as collectors and cron mail read it: JSON lines with millisecond times, the
pipeline and the run id, run events, warnings for handled failures; text lines with
timestamps off a terminal, colour only when asked; a failed run's id; -q says it once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from servers.rest_app import RestServer

PIPELINE = """\
version: 1
name: log-demo
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: write
    for_each:
      items: input
      steps:
        - id: post
          rest: {{connection: api, method: GET, path: "/status/${{{{ item }}}}"}}
{handled}"""

HANDLED = "          on_error: continue\n"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


def _run(cli, write, tmp_path, api, items, *args, handled=""):
    path = write("p.yaml", PIPELINE.format(url=api.url, handled=handled))
    db = str(tmp_path / "h.db")
    return cli("run", path, "--db", db, "--input", json.dumps(items), *args), db


def _records(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines()]


def test_json_lines_carry_time_pipeline_run_and_run_events(cli, write, tmp_path, api):
    result, db = _run(cli, write, tmp_path, api, [200, 200], "--log-format", "json")
    assert result.code == 0, result.err
    records = _records(result.err)
    assert [r["event"] for r in records] == ["run_started", "step", "run_succeeded"]
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    for r in records:
        assert re.fullmatch(STAMP, r["time"]), r["time"]
        assert (r["pipeline"], r["run"], r["level"]) == ("log-demo", run_id, "info")
    started, step, succeeded = records
    assert step["message"].startswith("write: ok (") and "iteration" not in step
    assert started["message"] == f"run {run_id} started" and started["trigger"] == "manual"
    assert succeeded["status"] == "succeeded" and succeeded["duration_ms"] > 0


def test_a_failed_run_ends_with_run_failed_and_names_the_iteration(cli, write, tmp_path, api):
    result, _ = _run(cli, write, tmp_path, api, [200, 200, 500], "--log-format", "json")
    assert result.code == 1
    records = _records(result.err)
    assert [(r["event"], r["level"]) for r in records] == [
        ("run_started", "info"),
        ("step", "error"),
        ("step", "error"),
        ("run_failed", "error"),
    ]
    inner = records[1]
    assert (inner["step"], inner["iteration"], inner["status"]) == ("post", "write[2]", "failed")
    assert inner["message"].startswith("write[2].post: failed - GET ")
    assert records[-1]["message"].startswith("error: step 'write[2].post' failed: GET ")


def test_a_failed_loops_json_message_is_the_text_logs_line(cli, write, tmp_path, api):
    text, _ = _run(cli, write, tmp_path, api, [200, 500])
    json_lines, _ = _run(cli, write, tmp_path, api, [200, 500], "--log-format", "json")
    loop = [r for r in _records(json_lines.err) if r["event"] == "step"][-1]
    assert re.fullmatch(r"write: failed at write\[1\]\.post \(\d+\.\d\ds\)", loop["message"])
    assert (loop["step"], loop["failed_at"]) == ("write", "write[1].post")
    shown = [re.sub(r"\(\d+\.\d\ds\)", "(T)", line) for line in text.err.splitlines()]
    said = [re.sub(r"\(\d+\.\d\ds\)", "(T)", r["message"]) for r in _records(json_lines.err)]
    steps = [m for m in said if m.startswith("write")]
    assert steps == [line for line in shown if line.startswith("write")]


def test_a_failure_on_error_handles_is_a_warning(cli, write, tmp_path, api):
    result, _ = _run(cli, write, tmp_path, api, [500], "--log-format", "json", handled=HANDLED)
    assert result.code == 0, result.err
    inner, loop = [r for r in _records(result.err) if r["event"] == "step"]
    assert (inner["level"], inner["status"]) == ("warning", "failed, continuing")
    assert inner["message"].startswith("write[0].post: failed, continuing - GET ")
    assert (loop["level"], loop["status"]) == ("info", "ok")


def test_text_lines_carry_timestamps_off_a_terminal(cli, write, tmp_path, api, monkeypatch):
    monkeypatch.delenv("HOOKLINE_LOG_TIME")  # the default: auto
    result, _ = _run(cli, write, tmp_path, api, [500])
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines and all(re.match(STAMP + " ", line) for line in lines), lines
    assert re.fullmatch(STAMP + r" error: step 'write\[0\]\.post' failed: GET .*", lines[-1])
    monkeypatch.setenv("HOOKLINE_LOG_TIME", "never")
    plain, _ = _run(cli, write, tmp_path, api, [500])
    assert plain.err.splitlines()[-1].startswith("error: step 'write[0].post' failed: GET ")


def test_no_colour_in_a_pipe_unless_forced_and_never_with_no_color(
    cli, write, tmp_path, api, monkeypatch
):
    plain, _ = _run(cli, write, tmp_path, api, [500])
    assert "\x1b" not in plain.err
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced, _ = _run(cli, write, tmp_path, api, [500])
    assert "write[0].post: \x1b[31mfailed\x1b[0m - GET " in forced.err
    assert "\n\x1b[31merror:\x1b[0m step 'write[0].post' failed" in forced.err
    monkeypatch.setenv("NO_COLOR", "1")
    refused, _ = _run(cli, write, tmp_path, api, [500])
    assert "\x1b" not in refused.err


def test_a_failed_run_prints_its_id_and_how_to_see_it(cli, write, tmp_path, api):
    result, db = _run(cli, write, tmp_path, api, [200, 500])
    assert result.code == 1
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    hint = f"run {run_id} failed; see: hookline runs show {run_id[:12]} --db {db}"
    lines = result.err.splitlines()
    # the loop's line names the step that failed in it, rather than repeat its error
    assert re.fullmatch(r"write: failed at write\[1\]\.post \(\d+\.\d\ds\)", lines[-3])
    assert lines[-4].startswith("write[1].post: failed - GET ")
    assert lines[-2:] == [
        hint,
        "error: step 'write[1].post' failed: GET "
        f"{api.url}/status/500 answered 500 Internal Server Error: "
        '{"error": "status 500"}',
    ]
    shown = cli(*hint.split(": ", 1)[1].split()[1:])  # the command it gives, as given
    assert shown.code == 0, shown.err
    assert "    write[1]: failed" in shown.out


def test_quiet_says_the_failure_once(cli, write, tmp_path, api):
    result, db = _run(cli, write, tmp_path, api, [500], "-q")
    assert result.code == 1
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    assert result.err.splitlines() == [
        f"run {run_id} failed; see: hookline runs show {run_id[:12]} --db {db}",
        f"error: step 'write[0].post' failed: GET {api.url}/status/500 answered 500 "
        'Internal Server Error: {"error": "status 500"}',
    ]


RETRIED = """\
version: 1
name: retried
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: write
    for_each:
      items: input
      steps:
        - id: post
          rest: {{connection: api, method: GET, path: "/flaky/${{{{ item }}}}"}}
          retry: {{attempts: 2, initial_delay: 0.01}}
"""


def test_a_retry_inside_a_loop_names_the_iteration(cli, write, tmp_path, api):
    key = f"logs-{tmp_path.name}"
    path = write("r.yaml", RETRIED.format(url=api.url))
    items = json.dumps(["ok-" + key, key])
    api.attempts["ok-" + key] = 1  # its first answer is the 200
    text = cli("run", path, "--db", str(tmp_path / "h.db"), "--input", items)
    assert text.code == 0, text.err
    (line,) = [line for line in text.err.splitlines() if "retrying" in line]
    assert line.startswith("warning: write[1].post: attempt 1 answered 503")
    as_json = cli(
        "run",
        path,
        "--db",
        str(tmp_path / "h.db"),
        "--input",
        json.dumps([key + "x"]),
        "--log-format",
        "json",
    )
    (retry,) = [r for r in _records(as_json.err) if r["event"] == "retry"]
    assert (retry["step"], retry["iteration"], retry["level"]) == ("post", "write[0]", "warning")
    assert retry["message"].startswith("warning: write[0].post: attempt 1 answered 503")


def test_no_run_id_to_look_up_when_the_history_is_off(cli, write, tmp_path, api):
    path = write("p.yaml", PIPELINE.format(url=api.url, handled=""))
    db = tmp_path / "h.db"
    db.write_bytes(b"this is not a database, and it is long enough to be read as one" * 20)
    result = cli("run", path, "--db", str(db), "--input", "[500]")
    assert result.code == 1
    assert "warning: " in result.err  # the history is off, and says so
    assert "hookline runs show" not in result.err
    assert result.err.splitlines()[-1].startswith("error: step 'write[0].post' failed: GET ")
