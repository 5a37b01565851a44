"""The poll trigger through ``run-pipeline``: a real local REST API whose contacts change
between polls, and a target API the fired runs write to."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline import load_pipeline
from hookline._log import RunLog
from hookline._runtime import Runtime
from hookline.triggers.poll import poll_of
from hookline.triggers.poll_run import poll_once
from hookline.triggers.poll_store import PollStore
from poll_support import TOKEN, ContactsServer

PIPELINE = """\
version: 1
name: contacts-change-sync
trigger:
  poll:
    cron: "*/5 * * * *"
    list:
      id: contacts
      rest:
        connection: source
        path: /source/contacts
        paginate: {{next_url: body.next, items: body.data, max_pages: {max_pages}}}
    id: id
    marker: updated_at
{extra}
secrets: [SOURCE_TOKEN]
vars:
  url: {url}
connections:
  source:
    rest:
      base_url: "${{{{ vars.url }}}}"
      auth: {{bearer: "${{{{ secrets.SOURCE_TOKEN }}}}"}}
steps:
  - id: upsert
    if: "input.change != 'deleted'"
    rest:
      connection: source
      method: PUT
      path: "/target/people/${{{{ input.id }}}}"
      json: {{name: "${{{{ input.record.name }}}}", was: "${{{{ input.previous_marker }}}}"}}
  - id: remove
    if: "input.change == 'deleted'"
    rest:
      connection: source
      method: DELETE
      path: "/target/people/${{{{ input.id }}}}"
      expect: [204, 404]
output: "${{{{ input.change }}}}"
"""


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContactsServer]:
    monkeypatch.setenv("SOURCE_TOKEN", TOKEN)
    server = ContactsServer(page_size=2).start()
    server.put("a", "Ada", "2026-01-01")
    server.put("b", "Bob", "2026-01-01")
    server.put("c", "Cy", "2026-01-01")
    yield server
    server.stop()


Write = Callable[[str, str], str]


def _file(write: Write, api: ContactsServer, *, max_pages: int = 10, extra: str = "") -> str:
    text = PIPELINE.format(url=api.url, max_pages=max_pages, extra=extra)
    return write("contacts-change-sync.yaml", text)


def _runs(out: str) -> list[tuple[str, Any, str]]:
    return [(r["change"], r["id"], r["status"]) for r in json.loads(out)["runs"]]


def test_first_poll_remembers_then_each_change_runs_once(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api)
    first = cli(path, prog="run-pipeline")
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert (summary["first_poll"], summary["complete"], summary["records"]) == (True, True, 3)
    assert summary["runs"] == []
    assert "poll: 3 records, first poll: baseline set, 0 runs started" in first.err
    assert api.calls == []

    api.put("b", "Bobby", "2026-01-02")  # updated
    api.remove("c")  # deleted
    api.put("d", "Dee", "2026-01-02")  # created
    api.people["c"] = {"name": "Cy"}  # the target still has it
    second = cli(path, prog="run-pipeline")
    assert second.code == 0, second.err
    assert _runs(second.out) == [
        ("created", "d", "succeeded"),
        ("updated", "b", "succeeded"),
        ("deleted", "c", "succeeded"),
    ]
    assert api.calls == [
        ("PUT", "/target/people/d"),
        ("PUT", "/target/people/b"),
        ("DELETE", "/target/people/c"),
    ]
    assert api.people == {
        "d": {"name": "Dee", "was": None},
        "b": {"name": "Bobby", "was": "2026-01-01"},
    }
    assert TOKEN not in second.out + second.err

    third = cli(path, prog="run-pipeline")  # nothing changed: nothing runs
    assert (third.code, _runs(third.out)) == (0, [])
    assert len(api.calls) == 3


def test_a_listing_cut_by_max_pages_fires_no_deletion(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api, max_pages=1)  # 2 contacts a page: c is on page 2
    assert cli(path, prog="run-pipeline").code == 0
    api.put("a", "Ada L.", "2026-01-05")
    api.remove("b")  # gone from page 1: c moves up, and is seen; b looks deleted
    api.put("e", "Eve", "2026-01-05")  # on a page not read
    result = cli(path, prog="run-pipeline")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["complete"] is False
    # c moved up to page 1: it is new to a baseline that only ever saw page 1.
    assert _runs(result.out) == [("created", "c", "succeeded"), ("updated", "a", "succeeded")]
    assert "(cut short: no deletions)" in result.err
    assert "stopped at max_pages=1 while the API has more pages" in result.err
    assert all(method == "PUT" for method, _ in api.calls)


def test_a_failed_listing_fires_nothing_and_keeps_the_baseline(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api)
    assert cli(path, prog="run-pipeline").code == 0
    api.put("d", "Dee", "2026-01-02")
    api.fail = 500
    failed = cli(path, prog="run-pipeline")
    assert failed.code == 1
    assert failed.out == ""
    assert "error: the poll fired nothing and kept its baseline: the listing failed: " in failed.err
    assert "500" in failed.err
    assert "Traceback" not in failed.err
    assert api.calls == []
    api.fail = None  # back: the change made meanwhile fires now, nothing is deleted
    again = cli(path, prog="run-pipeline")
    assert (again.code, _runs(again.out)) == (0, [("created", "d", "succeeded")])


def test_first_poll_fires_when_asked_and_batches_in_one_run(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    extra = "    fire_on_first_poll: true\n    batch: true\n    changes: [created, deleted]"
    path = write(
        "batch.yaml",
        PIPELINE.format(url=api.url, max_pages=10, extra=extra)
        .replace(
            "    if: \"input.change != 'deleted'\"\n", '    if: "length(input.changes) > `0`"\n'
        )
        .replace("/target/people/${{ input.id }}", "/target/people/batch")
        .replace("${{ input.record.name }}", "${{ join(',', input.changes[].id) }}")
        .replace("${{ input.previous_marker }}", "")
        .replace("    if: \"input.change == 'deleted'\"\n", '    if: "`false`"\n')
        .replace("${{ input.change }}", "${{ length(input.changes) }}"),
    )
    first = cli(path, prog="run-pipeline")
    assert first.code == 0, first.err
    assert _runs(first.out) == [("batch", None, "succeeded")]
    assert api.people == {"batch": {"name": "a,b,c", "was": ""}}
    api.put("a", "Ada", "2026-02-01")  # updated: not asked for, so no run
    assert _runs(cli(path, prog="run-pipeline").out) == []


def test_a_failed_run_is_reported_and_not_fired_again(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api)
    assert cli(path, prog="run-pipeline").code == 0
    api.put("z", "Nobody", "2026-01-02")
    api.refuse.add("z")  # the target answers 422
    result = cli(path, prog="run-pipeline")
    assert result.code == 1
    assert _runs(result.out) == [("created", "z", "failed")]
    assert "error: step 'upsert' failed: PUT " in result.err
    # Python 3.13's http.server calls 422 "Unprocessable Content" (RFC 9110).
    assert re.search(r"answered 422 Unprocessable (Entity|Content)", result.err)
    again = cli(path, prog="run-pipeline")
    assert (again.code, _runs(again.out)) == (0, [])


def test_with_input_a_poll_pipeline_runs_that_input_without_polling(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api)
    change = {"change": "updated", "id": "a", "record": {"name": "Ada"}, "previous_marker": "x"}
    result = cli(path, "--input", json.dumps(change), prog="run-pipeline")
    assert (result.code, json.loads(result.out)) == (0, "updated")
    assert api.listings == 0
    assert api.calls == [("PUT", "/target/people/a")]


def test_a_crash_before_the_commit_fires_the_same_changes_again(
    write: Write, api: ContactsServer, tmp_path: Path
) -> None:
    pipeline = load_pipeline(_file(write, api))
    spec = poll_of(pipeline)
    assert spec is not None
    store = PollStore(tmp_path / "poll.db")

    def runtime() -> Runtime:
        return Runtime(pipeline, {"SOURCE_TOKEN": TOKEN}, log=RunLog(io.StringIO()))

    fired: list[list[str]] = []

    def keep(items: list[tuple[str, Any]]) -> None:
        fired.append([key for key, _ in items])

    poll_once(pipeline, spec, store, runtime(), keep)  # the baseline
    api.put("d", "Dee", "2026-01-02")

    def crash(items: list[tuple[str, Any]]) -> None:
        keep(items)
        raise KeyboardInterrupt  # the process dies after queueing, before committing

    with pytest.raises(KeyboardInterrupt):
        poll_once(pipeline, spec, store, runtime(), crash)
    poll_once(pipeline, spec, store, runtime(), keep)
    # The same change, with the same delivery key: the intake's dedup refuses the second.
    key = "poll:contacts-change-sync:created:d:2026-01-02"
    assert fired == [[], [key], [key]]
    poll_once(pipeline, spec, store, runtime(), keep)
    assert fired[-1] == []
    store.close()


def test_a_listing_that_is_not_a_connector_step_is_refused_where_written(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    text = PIPELINE.format(url=api.url, max_pages=10, extra="")
    start = text.index("    list:\n")
    end = text.index("    id: id\n")
    bad = text[:start] + "    list:\n      id: contacts\n      set: {a: 1}\n" + text[end:]
    path = write("bad.yaml", bad)
    result = cli("check", path)
    assert result.code == 2
    assert (
        f"{path}:8:7: a poll's listing is one rest, graphql or soap step, not a set step"
        in result.out
    )


def test_a_bad_cron_is_refused_where_written(cli: Any, write: Write, api: ContactsServer) -> None:
    text = PIPELINE.format(url=api.url, max_pages=10, extra="").replace("*/5 * * * *", "*/5 * *")
    path = write("bad.yaml", text)
    result = cli("check", path)
    assert result.code == 2
    assert f"{path}:5:11: invalid cron expression '*/5 * *': expected 5 fields" in result.out


def test_hookline_cron_prints_a_line_that_polls(
    cli: Any, write: Write, api: ContactsServer
) -> None:
    path = _file(write, api)
    result = cli("cron", str(Path(path).parent))
    assert result.code == 0, result.err
    jobs = [line for line in result.out.splitlines() if line.startswith("*/5 * * * * ")]
    assert len(jobs) == 1
    assert str(Path(path).resolve()) in jobs[0]
    assert f"# contacts-change-sync: {Path(path).resolve()}" in result.out.splitlines()
