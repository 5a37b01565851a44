"""``hookline runs`` for loops: a nested loop's iterations are told apart in the history,
``runs show`` sums each loop up and shows its failed iterations in full (``--all``: every
one), and the list fits the terminal's width."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from servers.rest_app import RestServer

NESTED = """\
version: 1
name: nested
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: outer
    for_each:
      items: input
      concurrency: {workers}
      steps:
        - id: inner
          for_each:
            items: item
            concurrency: {workers}
            steps:
              - id: get
                rest: {{connection: api, method: GET, path: "/status/${{{{ item }}}}"}}
"""


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


def _run(cli, write, tmp_path, text: str, items) -> tuple[str, str, str]:
    """Run; return the history's path, the run's id and what the run wrote on stderr."""
    db = str(tmp_path / "h.db")
    ran = cli("run", write("p.yaml", text), "--db", db, "--input", json.dumps(items))
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    return db, run_id, ran.err


@pytest.mark.parametrize("workers", [1, 2])
def test_a_nested_loops_failed_iteration_shows_its_own_request_only(
    cli, write, tmp_path, api, workers
):
    # outer[0].inner[1] and outer[1].inner[1] are both iteration 1 of 'inner': only the
    # second failed, and it alone must show (the history once mixed the two up).
    items = [[200, 201], [202, 500]]
    db, run_id, err = _run(cli, write, tmp_path, NESTED.format(url=api.url, workers=workers), items)
    assert f"error: step 'outer[1].inner[1].get' failed: GET {api.url}/status/500" in err
    assert "outer[1].inner[1].get: failed - GET " in err

    out = cli("runs", "show", run_id, "--db", db).out
    failed = out[out.index("outer[1].inner[1]: failed") :]
    assert "item 500\n" in failed
    assert failed.count("→ GET") == 1 and f"→ GET {api.url}/status/500\n" in failed
    assert "/status/201" not in out  # outer[0].inner[1] passed: counted, not shown
    assert re.search(r"\n        2 iterations: 1 ok, 1 failed in \d+\.\d\ds\n", out)

    # Each request is kept under the iteration it ran in. (With two workers, outer[0]
    # may have been stopped before all its requests: only those sent are checked.)
    whole = json.loads(cli("runs", "show", run_id, "--db", db, "--format", "json").out)
    where = {"200": ("outer[0].inner", 0), "201": ("outer[0].inner", 1)}
    where |= {"202": ("outer[1].inner", 0), "500": ("outer[1].inner", 1)}
    sent = {a["request"]["url"].rsplit("/", 1)[1]: a for a in whole["attempts"]}
    assert {"202", "500"} <= set(sent)
    assert all((a["loop_step"], a["loop_index"]) == where[s] for s, a in sent.items())
    if workers > 1:
        return
    assert re.search(
        r"\n    2 iterations: 1 ok, 1 failed in \d+\.\d\ds\n    outer\[1\]: failed", out
    )
    every = cli("runs", "show", run_id, "--db", db, "--all").out
    for status in (200, 201, 202, 500):
        assert every.count(f"→ GET {api.url}/status/{status}\n") == 1
    part = every[every.index("outer[0].inner[1]: ok") :]
    assert part.index("/status/201") < part.index("outer[1]: failed")

    one = cli("runs", "show", run_id, "--db", db, "--iteration", "outer[0].inner[1]")
    assert one.code == 0, one.err
    assert "\n  outer[0].inner[1]: ok (" in one.out
    assert one.out.count("→ GET") == 1 and "/status/201\n" in one.out
    as_json = cli(
        "runs", "show", run_id, "--db", db, "--iteration", "outer[0].inner[1]", "--format", "json"
    )
    (it,) = json.loads(as_json.out)["iterations"]
    assert (it["step_id"], it["idx"], it["loop_step"], it["loop_index"]) == ("inner", 1, "outer", 0)
    assert [a["request"]["url"].rsplit("/", 1)[1] for a in it["attempts"]] == ["201"]
    missing = cli("runs", "show", run_id, "--db", db, "--iteration", "outer[0].inner[7]")
    assert missing.code == 2
    assert missing.err == (
        f"error: run {run_id} has no loop iteration outer[0].inner[7] "
        "(loop 'inner' ran iterations 0 to 1)\n"
    )
    bad = cli("runs", "show", run_id, "--db", db, "--iteration", "outer.inner")
    assert bad.code == 2
    assert "'outer.inner': write N, or a loop path such as each[7] or outer[2].inner[5]" in bad.err


LOOP = """\
version: 1
name: {name}
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: each
    for_each:
      items: input
      steps:
        - id: get
          rest: {{connection: api, method: GET, path: "/status/${{{{ item.status }}}}"}}
"""


def test_a_long_item_is_cut_and_says_so(cli, write, tmp_path, api):
    items = [{"status": 500, "note": "x" * 3000}]
    db, run_id, _ = _run(cli, write, tmp_path, LOOP.format(name="big", url=api.url), items)
    out = cli("runs", "show", run_id, "--db", db).out
    part = out[out.index("each[0]: failed") :]
    assert "      item\n" in part
    assert re.search(r"… \(truncated: \d+ characters in all\)\n", part)
    assert "x" * 1000 not in part


def test_the_list_fits_the_terminal_and_marks_what_it_cut(cli, write, tmp_path, api, monkeypatch):
    name = "a-pipeline-with-a-rather-long-name"
    db, run_id, _ = _run(
        cli, write, tmp_path, LOOP.format(name=name, url=api.url), [{"status": 500}]
    )
    monkeypatch.setenv("COLUMNS", "72")
    lines = cli("runs", "--db", db).out.splitlines()
    assert len(lines) == 2 and all(len(line) <= 72 for line in lines), lines
    assert lines[1].startswith(run_id[:12] + "  ")  # the id is never cut
    assert "a-pipel…" in lines[1] and lines[1].endswith("…")
    assert name not in lines[1]

    monkeypatch.setenv("COLUMNS", "300")
    wide = cli("runs", "--db", db).out.splitlines()[1]
    assert name in wide and wide.endswith(
        'answered 500 Internal Server Error: {"error": "status 500"}'
    )
    assert len(wide) <= 300

    monkeypatch.delenv("COLUMNS")  # stdout is a pipe here: lines are kept whole, for grep
    piped = cli("runs", "--db", db).out.splitlines()[1]
    assert name in piped and "…" not in piped
