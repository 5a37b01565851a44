"""State between runs: read as ``state``, updated by ``save_state`` only when the run
succeeds (with its record, in one transaction), conflicts between overlapping runs, and
``hookline state show|set|clear``."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline import load_pipeline, run_pipeline
from hookline._engine import RunResult
from hookline._log import RunLog
from hookline._runtime import Runtime
from hookline._store import Store
from hookline._store_read import History
from servers.gate_server import GateServer

COUNTER = """\
version: 1
name: counter
steps:
  - id: next
    set: "${{ sum([state.n || `0`, `1`]) }}"
  - id: check
    if: "input.fail"
    fail: "asked to fail at ${{ steps.next }}"
output: "${{ steps.next }}"
save_state:
  n: "${{ steps.next }}"
  seen_fail: "${{ input.fail }}"
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def stored(db: Path, pipeline: str) -> tuple[int, dict[str, Any]] | None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'pipeline_state'").fetchone():
            return None
        row = conn.execute(
            "SELECT version, value FROM pipeline_state WHERE pipeline = ?", (pipeline,)
        ).fetchone()
    return None if row is None else (row[0], json.loads(row[1]))


def run_status(db: Path, run_id: str) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def engine_run(path: Path, db: Path, input: Any = None, **kw: Any) -> tuple[RunResult, str]:
    pipeline = load_pipeline(path)
    stream = io.StringIO()
    with Store(db) as store:
        runtime = Runtime(pipeline, {}, log=RunLog(stream), recorder=store)
        result = run_pipeline(pipeline, input, runtime=runtime, **kw)
    return result, stream.getvalue()


def test_state_is_read_by_expressions_and_saved_by_each_successful_run(cli, tmp_path):
    path, db = write(tmp_path, COUNTER), tmp_path / "h.db"
    outputs = []
    for _ in range(3):
        result = cli("run", str(path), "--input", "{}", "--db", str(db))
        assert result.code == 0, result.err
        outputs.append(json.loads(result.out))
    assert outputs == [1, 2, 3]
    # seen_fail rendered null: a null removes the key, so it is never stored
    assert stored(db, "counter") == (3, {"n": 3})


def test_a_failed_run_saves_nothing(cli, tmp_path):
    path, db = write(tmp_path, COUNTER), tmp_path / "h.db"
    assert cli("run", str(path), "--input", "{}", "--db", str(db)).code == 0
    failed = cli("run", str(path), "--input", '{"fail": true}', "--db", str(db))
    assert failed.code == 1
    assert "step 'check' failed: asked to fail at 2" in failed.err
    assert stored(db, "counter") == (1, {"n": 1})


def test_a_dry_run_reads_no_state_and_saves_none(cli, tmp_path):
    path, db = write(tmp_path, COUNTER), tmp_path / "h.db"
    assert cli("run", str(path), "--input", "{}", "--db", str(db)).code == 0
    dry = cli("run", str(path), "--input", "{}", "--db", str(db), "--dry-run")
    assert dry.code == 0, dry.err
    assert stored(db, "counter") == (1, {"n": 1})


def test_state_given_by_the_caller_is_used_and_never_committed(tmp_path):
    path, db = write(tmp_path, COUNTER), tmp_path / "h.db"
    result, _ = engine_run(path, db, {}, state={"n": 41})
    assert (result.status, result.output, result.state_update) == (
        "succeeded",
        42,
        {"n": 42, "seen_fail": None},
    )
    assert stored(db, "counter") is None


def test_a_state_update_that_cannot_be_saved_fails_the_run_and_its_record(tmp_path):
    # Over MAX_STATE_BYTES (1 MiB): the write fails inside the transaction of the run's
    # record, so neither is written as succeeded.
    path = write(
        tmp_path,
        """\
        version: 1
        name: big
        steps:
          - id: blob
            set: "${{ input.text }}"
        output: done
        save_state:
          blob: "${{ steps.blob }}"
        on_failure:
          - id: seen
            set: "${{ error.message }}"
        """,
    )
    db = tmp_path / "h.db"
    result, log = engine_run(path, db, {"text": "x" * (1024 * 1024)})
    assert result.status == "failed"
    assert result.error == (
        "the state update was not saved: the pipeline's state would take 1,048,588 bytes "
        "as JSON, over the limit of 1,048,576"
    )
    assert run_status(db, result.run_id) == "failed"
    assert stored(db, "big") is None
    assert "seen: ok" in log  # on_failure saw it
    # ...and the history has the run's steps in order, on_failure's included
    with History(db) as history:
        shown = history.get_run(result.run_id)
    assert [(s["step_id"], s["status"]) for s in shown["steps"]] == [
        ("blob", "ok"),
        ("seen", "ok"),
    ]


def test_save_state_may_not_read_secrets(cli, tmp_path):
    path = write(
        tmp_path,
        """\
        version: 1
        name: leak
        secrets: [TOKEN]
        steps:
          - id: a
            set: 1
        save_state:
          token: "${{ secrets.TOKEN }}"
        """,
    )
    result = cli("check", str(path))
    assert result.code == 2
    assert result.out.splitlines()[0] == (
        f"{path}:8:15: 'secrets' cannot be used in save_state (the state is stored as it "
        "is, so a secret never goes in)"
    )


# --- overlapping runs ------------------------------------------------------------------

GATED = """\
version: 1
name: overlap
steps:
  - id: wait
    rest: {{url: "{url}/gate/${{{{ input.gate }}}}"}}
output: "${{{{ input.gate }}}}"
save_state: {save}
"""


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer().start()
    try:
        yield server
    finally:
        server.stop()


def overlap(tmp_path: Path, gate: GateServer, save: str) -> dict[str, RunResult]:
    """Runs a and b both read the state, b commits first, then a."""
    path = write(tmp_path, GATED.format(url=gate.url, save=save))
    db = tmp_path / "h.db"
    Store(db).close()
    results: dict[str, RunResult] = {}

    def one(name: str) -> None:
        results[name], _ = engine_run(path, db, {"gate": name})

    threads = {name: threading.Thread(target=one, args=(name,)) for name in "ab"}
    for name in "ab":
        threads[name].start()
        assert gate.arrived(name)  # it read the state (version 0) before its request
    gate.open("b")
    threads["b"].join(30)
    gate.open("a")
    threads["a"].join(30)
    return results


def test_overlapping_runs_changing_the_same_key_conflict(tmp_path, gate):
    results = overlap(tmp_path, gate, '{last: "${{ input.gate }}"}')
    assert results["b"].status == "succeeded"
    assert results["a"].status == "failed"
    assert results["a"].error == (
        f"state conflict: run {results['b'].run_id} changed 'last' (state version 1) after "
        "this run read the state (version 0); this run's state update was not saved"
    )
    db = tmp_path / "h.db"
    assert stored(db, "overlap") == (1, {"last": "b"})
    assert run_status(db, results["a"].run_id) == "failed"


def test_overlapping_runs_changing_different_keys_both_keep_theirs(tmp_path, gate):
    # Each run changes its own key and writes back the other one as it read it.
    save = (
        "{a: \"${{ input.gate == 'a' && run.id || state.a }}\","
        " b: \"${{ input.gate == 'b' && run.id || state.b }}\"}"
    )
    results = overlap(tmp_path, gate, save)
    assert results["a"].status == results["b"].status == "succeeded"
    assert stored(tmp_path / "h.db", "overlap") == (
        2,
        {"a": results["a"].run_id, "b": results["b"].run_id},
    )


# --- hookline state ----------------------------------------------------------------------


def test_state_command_shows_sets_and_clears(cli, tmp_path):
    path, db = write(tmp_path, COUNTER), tmp_path / "h.db"
    first = cli("run", str(path), "--input", "{}", "--db", str(db))
    shown = cli("state", "show", "counter", "--db", str(db))
    assert shown.code == 0
    data = json.loads(shown.out)
    assert first.code == 0
    assert (data["version"], data["state"]) == (1, {"n": 1})
    assert data["changes"][0]["keys"] == ["n"]

    put = cli("state", "set", "counter", "n", "100", "--db", str(db))
    assert (put.code, json.loads(put.out), put.err) == (
        0,
        {"n": 100},
        "state of counter: version 2\n",
    )
    assert json.loads(cli("run", str(path), "--input", "{}", "--db", str(db)).out) == 101

    cleared = cli("state", "clear", "counter", "--db", str(db))
    assert (cleared.code, json.loads(cleared.out)) == (0, {})
    assert json.loads(cli("run", str(path), "--input", "{}", "--db", str(db)).out) == 1


def test_state_set_refuses_a_value_that_is_not_json(cli, tmp_path):
    result = cli("state", "set", "counter", "since", "2024-05-01", "--db", str(tmp_path / "h.db"))
    assert result.code == 2
    assert result.err == (
        "error: state set: the value is not JSON (Extra data: line 1 column 5 (char 4)); "
        """write a text in double quotes, e.g. '"2024-05-01T00:00:00Z"'\n"""
    )


def test_state_show_of_a_pipeline_without_state_creates_nothing(cli, tmp_path):
    db = tmp_path / "h.db"
    result = cli("state", "show", "nothing", "--db", str(db))
    assert result.code == 0
    assert json.loads(result.out)["state"] == {}
    assert result.err == f"no state saved for pipeline 'nothing' in {db}\n"
    assert not db.exists()


def test_overlapping_runs_saving_the_same_value_do_not_conflict(tmp_path, gate):
    # Both move the watermark to the same place: nothing is lost, so both succeed.
    results = overlap(tmp_path, gate, '{since: "2024-05-01T12:00:00Z"}')
    assert results["a"].status == results["b"].status == "succeeded"
    assert stored(tmp_path / "h.db", "overlap") == (1, {"since": "2024-05-01T12:00:00Z"})


def test_an_operator_fix_wins_over_a_run_in_flight_that_changes_the_same_key(cli, tmp_path, gate):
    path = write(tmp_path, GATED.format(url=gate.url, save='{last: "${{ input.gate }}"}'))
    db = tmp_path / "h.db"
    Store(db).close()
    results: dict[str, RunResult] = {}
    thread = threading.Thread(
        target=lambda: results.update(a=engine_run(path, db, {"gate": "a"})[0])
    )
    thread.start()
    assert gate.arrived("a")
    fixed = cli("state", "set", "overlap", "last", '"by hand"', "--db", str(db))
    other = cli("state", "set", "overlap", "unrelated", "1", "--db", str(db))
    assert fixed.code == other.code == 0
    gate.open("a")
    thread.join(30)
    assert results["a"].error == (
        "state conflict: hookline state set changed 'last' (state version 1) after this run "
        "read the state (version 0); this run's state update was not saved"
    )
    assert stored(db, "overlap") == (2, {"last": "by hand", "unrelated": 1})


def test_a_pipeline_with_save_state_does_not_start_without_its_history(cli, tmp_path):
    path = write(tmp_path, COUNTER)
    db = tmp_path / "a-directory.db"
    db.mkdir()  # the history cannot be opened there
    result = cli("run", str(path), "--input", "{}", "--db", str(db))
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        "error: this pipeline keeps state (save_state), which lives in the run history, "
        f"and the run history at {db} is off: the run did not start"
    )
    assert "next: ok" not in result.err  # no step ran


def test_a_state_update_holding_a_secret_is_refused_and_runs_show_lists_updates(
    cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("TOKEN", "tok-7Hq2Wv9Lp")
    path = write(
        tmp_path,
        """\
        version: 1
        name: echo
        secrets: [TOKEN]
        steps:
          - id: answer
            set: {token: "${{ secrets.TOKEN }}", n: "${{ input.n }}"}
        save_state:
          n: "${{ steps.answer.n }}"
          token: "${{ input.keep && steps.answer.token || `null` }}"
        """,
    )
    db = tmp_path / "h.db"
    refused = cli("run", str(path), "--input", '{"keep": true, "n": 1}', "--db", str(db))
    assert refused.code == 1
    assert refused.err.splitlines()[-1] == (
        "error: the state update was not saved: save_state 'token' holds the value of a "
        "secret, and the state is stored as it is"
    )
    assert stored(db, "echo") is None

    saved = cli("run", str(path), "--input", '{"n": 2}', "--db", str(db))
    assert saved.code == 0, saved.err
    run_id = json.loads(cli("runs", "--format", "json", "--db", str(db)).out)[0]["id"]
    shown = cli("runs", "show", run_id, "--db", str(db))
    assert 'state saved (version 1)\n  {\n    "n": 2\n  }\n' in shown.out
    as_json = json.loads(cli("runs", "show", run_id, "--db", str(db), "--format", "json").out)
    assert as_json["state_update"] == {"version": 1, "values": {"n": 2}}
    assert "tok-7Hq2Wv9Lp" not in (tmp_path / "h.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["show", "../etc"],
            "error: '../etc' is not a pipeline name (letters, digits, '_', '.', '-')\n",
        ),
        (["set", "p", "a.b", "1"], "error: 'a.b' is not a state key (letters, digits and '_')\n"),
    ],
)
def test_state_command_refuses_bad_names(cli, tmp_path, argv, message):
    result = cli("state", *argv, "--db", str(tmp_path / "h.db"))
    assert (result.code, result.err) == (2, message)
    assert not (tmp_path / "h.db").exists()
