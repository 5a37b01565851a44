"""Each for_each iteration is a record of the run history, with its item and its own
requests: a failed iteration is found by its index."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from hookline._store_read import History
from servers.rest_app import RestServer

LOOP = """\
version: 1
name: loop
connections:
  api:
    rest: {{base_url: "{url}"}}
steps:
  - id: each
    for_each:
      items: input
      concurrency: {concurrency}
      steps:
        - id: get_one
          rest:
            connection: api
            method: GET
            path: "/status/${{{{ item.status }}}}"
            params: {{i: "${{{{ index }}}}"}}
      output: "${{{{ index }}}}"
"""


@pytest.fixture(scope="module")
def api() -> Iterator[RestServer]:
    with RestServer() as server:
        yield server


def statuses(failing: int, count: int = 20) -> str:
    return json.dumps([{"status": 404 if i == failing else 200} for i in range(count)])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failed_iteration_is_found_by_its_index_with_its_own_request(
    cli, tmp_path, write, api, concurrency
):
    db = str(tmp_path / "h.db")
    path = write("loop.yaml", LOOP.format(url=api.url, concurrency=concurrency))
    ran = cli("run", path, "--input", statuses(failing=13), "--db", db)
    assert ran.code == 1
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]

    shown = cli("runs", "show", run_id, "--db", db)
    assert shown.code == 0
    out = shown.out
    assert "  each: failed" in out
    summary = [line.strip() for line in out.splitlines() if "iterations:" in line]
    assert len(summary) == 1
    if concurrency == 1:  # the loop stops at the failure
        assert re.fullmatch(r"14 iterations: 13 ok, 1 failed in \d+\.\d\ds", summary[0])
    else:  # workers may have finished a few more meanwhile
        assert re.fullmatch(r"\d+ iterations: \d+ ok, 1 failed in \d+\.\d\ds", summary[0])
    assert "    each[13]: failed" in out
    failed_part = out[out.index("each[13]: failed") :]
    assert '"status": 404' in failed_part  # its item
    assert "/status/404?i=13" in failed_part  # its own request, not iteration 0's
    assert "← 404" in failed_part
    assert "error: step 'get_one' failed" in failed_part
    # Iterations that passed are counted, not shown.
    assert "/status/200?i=0" not in out

    one = cli("runs", "show", run_id, "--iteration", "3", "--db", db)
    assert one.code == 0
    assert "each[3]: ok" in one.out
    assert one.out.count("→ GET") == 1
    assert "/status/200?i=3" in one.out
    as_json = json.loads(
        cli("runs", "show", run_id, "--iteration", "13", "--db", db, "--format", "json").out
    )
    (it,) = as_json["iterations"]
    assert (it["idx"], it["status"], it["item"]) == (13, "failed", {"status": 404})
    assert [a["response"]["status"] for a in it["attempts"]] == [404]
    assert [s["step_id"] for s in it["steps"]] == ["get_one"]

    missing = cli("runs", "show", run_id, "--iteration", "99", "--db", db)
    assert missing.code == 2
    assert f"run {run_id} has no loop iteration 99" in missing.err


def test_every_iteration_of_a_passing_loop_is_recorded_once(cli, tmp_path, write, api):
    db = tmp_path / "h.db"
    path = write("loop.yaml", LOOP.format(url=api.url, concurrency=8))
    assert cli("run", path, "--input", statuses(failing=-1, count=50), "--db", str(db)).code == 0
    run_id = json.loads(cli("runs", "--db", str(db), "--format", "json").out)[0]["id"]
    with History(db) as history:
        run = history.get_run(run_id)
    rows = sorted((it["idx"], it["status"], it["output"]) for it in run["iterations"])
    assert rows == [(i, "ok", i) for i in range(50)]
    urls = sorted((a["loop_index"], a["request"]["url"]) for a in run["attempts"])
    assert [url.endswith(f"i={i}") for i, url in urls] == [True] * 50
    shown = cli("runs", "show", run_id, "--db", str(db))
    assert "50 iterations: 50 ok, 0 failed in " in shown.out
