"""`code` steps run for real: a user's function in a worker process of the warm pool,
its result, errors, output, timeout and memory limit, as a user sees them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hookline._store_read import History
from hookline.steps._code_pool import POOL, CallCancelled, Pool

FUNCS = """\
import os
import sys
import time


def add(a, b=1):
    return {"sum": a + b}


def shout(text):
    print("hello", text)
    print("warning: low", file=sys.stderr)
    return text.upper()


def inner(n):
    raise ValueError(f"bad n {n}")


def outer(n):
    return inner(n)


def returns_set():
    return {"tags": {1, 2}}


def returns_nan():
    return [float("nan")]


def sleeps(seconds):
    time.sleep(seconds)
    return "woke"


def pid():
    return os.getpid()


def hog(mib):
    blocks = bytearray(mib * 1024 * 1024)
    return len(blocks)


def dies():
    os._exit(7)


def quits():
    sys.exit("no more")


def deep(n):
    value = []
    for _ in range(n):
        value = [value]
    return value


def fails_at(i, n):
    if i == n:
        raise RuntimeError(f"item {i}")
    time.sleep(0.2 if i < n else 30)
    return os.getpid()
"""


def pipeline(steps: str, *, extra: str = "") -> str:
    return f"version: 1\nname: code-test\n{extra}steps:\n{steps}"


def run(cli, write, steps: str, *, extra: str = "", inp: Any = None) -> Any:
    write("code/funcs.py", FUNCS)
    path = write("p.yaml", pipeline(steps, extra=extra))
    db = str(Path(path).parent / "history.db")
    args = ["run", path, "--db", db]
    if inp is not None:
        args += ["--input", json.dumps(inp)]
    return cli(*args), db


def last_run(db: str) -> dict[str, Any]:
    with History(db) as stored:
        newest = stored.list_runs(limit=1)[0]
        return stored.get_run(newest["id"])


def test_result_is_the_return_value(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: s\n    code:\n      function: code/funcs.py:add\n"
        "      args: {a: '${{ input.x }}', b: 2}\noutput: '${{ steps.s.sum }}'\n",
        inp={"x": 40},
    )
    assert (result.code, json.loads(result.out)) == (0, 42)


def test_a_loop_reuses_the_warm_workers(cli, write):
    started = POOL.started
    result, _ = run(
        cli,
        write,
        "  - id: loop\n    for_each:\n      items: input.items\n      steps:\n"
        "        - id: p\n          code: {function: code/funcs.py:pid}\n"
        "      output: '${{ steps.p }}'\noutput: '${{ steps.loop }}'\n",
        inp={"items": list(range(30))},
    )
    assert result.code == 0, result.err
    pids = json.loads(result.out)
    assert len(pids) == 30
    # one at a time (the default concurrency): one worker, started once or already warm
    assert len(set(pids)) == 1
    assert POOL.started - started <= 1


def test_an_exception_is_a_step_error_with_the_users_traceback(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: s\n    code:\n      function: code/funcs.py:outer\n      args: {n: 3}\n",
    )
    assert result.code == 1
    assert "step 's' failed: ValueError: bad n 3 (at code/funcs.py:17 in inner)" in result.err
    assert "s:   code/funcs.py:21 in outer: return inner(n)" in result.err
    assert 's:   code/funcs.py:17 in inner: raise ValueError(f"bad n {n}")' in result.err
    # frames of hookline's worker are not shown, nor the code file's full path
    assert "_code_worker" not in result.err and 'funcs.py"' not in result.err
    assert "Traceback" not in result.err.replace("traceback of", "")


def test_on_error_catches_the_exception_and_sees_its_details(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: s\n    code:\n      function: code/funcs.py:outer\n      args: {n: 3}\n"
        "    on_error:\n      steps:\n        - id: caught\n"
        "          set: {message: '${{ error.message }}', kind: '${{ error.details.type }}'}\n"
        "output: '${{ steps.s }}'\n",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "message": "ValueError: bad n 3 (at code/funcs.py:17 in inner)",
        "kind": "ValueError",
    }


def test_sys_exit_is_a_step_error(cli, write):
    result, _ = run(cli, write, "  - id: s\n    code: {function: code/funcs.py:quits}\n")
    assert result.code == 1
    assert "step 's' failed: SystemExit: no more (at code/funcs.py:" in result.err


def test_a_non_json_return_is_a_clear_error(cli, write):
    result, _ = run(cli, write, "  - id: s\n    code: {function: code/funcs.py:returns_set}\n")
    assert result.code == 1
    assert (
        "step 's' failed: code/funcs.py:returns_set must return a JSON-like value: "
        "the return value['tags'] is of type set, which is not JSON-like"
    ) in result.err
    result, _ = run(cli, write, "  - id: s\n    code: {function: code/funcs.py:returns_nan}\n")
    assert "the return value[0] is nan, which JSON cannot hold" in result.err


def test_output_goes_to_the_log_and_the_history_redacted(cli, write, monkeypatch):
    monkeypatch.setenv("TOKEN", "s3cr3t-value-xyz")
    result, db = run(
        cli,
        write,
        "  - id: s\n    code:\n      function: code/funcs.py:shout\n"
        "      args: {text: '${{ secrets.TOKEN }}'}\n",
        extra="secrets: [TOKEN]\n",
    )
    assert result.code == 0, result.err
    assert "s: stdout: hello ***" in result.err
    assert "s: stderr: warning: low" in result.err
    stored = json.dumps(last_run(db))
    assert "hello ***" in stored and "warning: low" in stored
    assert "s3cr3t-value-xyz" not in result.err + result.out + stored


def test_the_timeout_kills_the_worker_and_a_fresh_one_answers(cli, write):
    started = time.monotonic()
    result, _ = run(
        cli,
        write,
        "  - id: slow\n    code:\n      function: code/funcs.py:sleeps\n"
        "      args: {seconds: 60}\n    timeout: 1s\n    on_error: continue\n"
        "  - id: after\n    code: {function: code/funcs.py:add, args: {a: 1}}\n"
        "output: {slow: '${{ steps.slow.error.message }}', after: '${{ steps.after }}'}\n",
    )
    assert time.monotonic() - started < 1 + 5  # the deadline, plus a worker's start
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "slow": "timed out after 1s",
        "after": {"sum": 2},
    }


def test_the_memory_limit_fails_the_step(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: s\n    code:\n      function: code/funcs.py:hog\n"
        "      args: {mib: 400}\n      memory_mb: 128\n",
    )
    assert result.code == 1
    assert "step 's' failed: MemoryError" in result.err


def test_a_dying_worker_fails_the_step_and_is_replaced(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: s\n    code: {function: code/funcs.py:dies}\n    on_error: continue\n"
        "  - id: t\n    code: {function: code/funcs.py:add, args: {a: 5}}\n"
        "output: {s: '${{ steps.s.error.message }}', t: '${{ steps.t.sum }}'}\n",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "s": "the process running code/funcs.py:dies ended without "
        "answering: it exited with code 7 (a crash, or the memory limit of 512 MiB)",
        "t": 6,
    }


def test_hookline_test_can_give_the_result_without_running_the_function(cli, write, tmp_path):
    write("code/funcs.py", FUNCS + '\n\ndef marks(path):\n    open(path, "w").close()\n')
    write(
        "p.yaml",
        pipeline(
            "  - id: s\n    code:\n      function: code/funcs.py:marks\n"
            "      args: {path: '${{ input.path }}'}\noutput: '${{ steps.s }}'\n"
        ),
    )
    marker = tmp_path / "ran"
    write(
        "p.test.yaml",
        "version: 1\ncases:\n"
        f"  - name: given\n    input: {{path: '{marker}'}}\n"
        "    answers:\n      s: {result: {score: 7}}\n    expect:\n      output: {score: 7}\n"
        f"  - name: run\n    input: {{path: '{marker}'}}\n    expect:\n      output: null\n",
    )
    result = cli("test", str(tmp_path / "p.test.yaml"), "-k", "given")
    assert result.code == 0, result.out + result.err
    assert not marker.exists()
    result = cli("test", str(tmp_path / "p.test.yaml"))
    assert result.code == 0, result.out + result.err
    assert "2 cases: 2 passed" in result.out
    assert marker.exists()


def test_a_result_nested_too_deeply_is_refused(cli, write):
    result, _ = run(
        cli, write, "  - id: s\n    code: {function: code/funcs.py:deep, args: {n: 200}}\n"
    )
    assert result.code == 1
    assert "step 's' failed: code/funcs.py:deep returned a value hookline refuses: " in result.err
    assert "128" in result.err
    result, _ = run(
        cli, write, "  - id: s\n    code: {function: code/funcs.py:deep, args: {n: 5000}}\n"
    )
    assert result.code == 1
    assert (
        "step 's' failed: code/funcs.py:deep must return a JSON-like value: the return value is nested too deeply"
        in result.err
    )


def test_parallel_iterations_run_in_several_workers(cli, write):
    result, _ = run(
        cli,
        write,
        "  - id: loop\n    for_each:\n      items: input.items\n      concurrency: 3\n"
        "      steps:\n        - id: p\n"
        "          code: {function: code/funcs.py:fails_at, args: {i: '${{ item }}', n: 99}}\n"
        "      output: '${{ steps.p }}'\noutput: '${{ steps.loop }}'\n",
        inp={"items": list(range(6))},
    )
    assert result.code == 0, result.err
    # each call sleeps 0.2 s: three at once take three workers
    assert len(set(json.loads(result.out))) == 3


def test_a_cancelled_run_stops_waiting_and_kills_the_worker(tmp_path):
    file = tmp_path / "f.py"
    file.write_text("import time\n\ndef f():\n    time.sleep(30)\n")
    pool = Pool()
    asked = time.monotonic()
    with pytest.raises(CallCancelled):
        pool.call(
            64 * 1024 * 1024,
            {"file": str(file), "function": "f", "args": {}},
            None,
            lambda: time.monotonic() - asked > 0.5,
        )
    assert time.monotonic() - asked < 5
    assert pool.started == 1
    assert not pool._idle.get(64 * 1024 * 1024)  # the killed worker was not kept
    pool.close()


def test_runs_show_lists_the_call_with_its_arguments_and_output(cli, write):
    result, db = run(
        cli, write, "  - id: s\n    code: {function: code/funcs.py:shout, args: {text: hi}}\n"
    )
    assert result.code == 0, result.err
    shown = cli("runs", "show", last_run(db)["id"], "--db", db)
    assert shown.code == 0, shown.err
    assert "      → CALL code/funcs.py:shout\n" in shown.out
    assert '        {"text": "hi"}\n' in shown.out
    assert "      ← returned\n" in shown.out
    assert '"stdout": "hello hi\\n"' in shown.out
    result, db = run(
        cli, write, "  - id: s\n    code: {function: code/funcs.py:outer, args: {n: 1}}\n"
    )
    shown = cli("runs", "show", last_run(db)["id"], "--db", db)
    assert shown.code == 0, shown.err
    assert "      ← raised ValueError\n" in shown.out
    assert "error: ValueError: bad n 1 (at code/funcs.py:17 in inner)" in shown.out
