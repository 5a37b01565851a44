"""Mistakes that used to run silently: the run now says so in its log and its history.

Against the real test server on 127.0.0.1 (``servers.rest_app``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from history_support import silent_server, wait_for
from servers.rest_app import RestServer


@pytest.fixture(scope="module")
def server() -> Iterator[RestServer]:
    with RestServer() as running:
        yield running


def history(db: Path | str) -> dict[str, Any]:
    """The one run in ``db``, as ``runs show --format json`` gives it."""
    from hookline._store_read import History

    with History(db) as stored:
        [run] = stored.list_runs(limit=2)
        return stored.get_run(run["id"])


def run(cli, write, text: str):
    path = write("p.yaml", text)
    db = str(Path(path).parent / "history.db")
    return cli("run", path, "--db", db), db


PAGES = """\
version: 1
name: pages
steps:
  - id: all
    rest:
      url: {url}/pages/next
      params: {{per_page: 10}}
      paginate: {{next_url: body.next, items: {items}}}
output: {{count: "${{{{ length(steps.all.items) }}}}"}}
"""


def test_items_that_find_nothing_on_the_first_page_warn(cli, write, server):
    result, db = run(cli, write, PAGES.format(url=server.url, items="records"))
    assert result.code == 0
    assert json.loads(result.out) == {"count": 0}
    warning = (
        "all: paginate.items 'records' found nothing on the first page, so the step "
        "succeeds with 0 records (the page has: status, headers, body; body has: records, "
        "next); did you mean 'body.records'?"
    )
    assert f"warning: {warning}\n" in result.err
    [step] = history(db)["steps"]
    assert step["result"]["warning"] == warning


def test_items_that_find_records_do_not_warn(cli, write, server):
    result, _ = run(cli, write, PAGES.format(url=server.url, items="body.records"))
    assert result.code == 0
    assert json.loads(result.out)["count"] > 0
    assert "warning" not in result.err


def test_a_retry_a_post_cannot_use_is_said_in_the_log(cli, write, server):
    text = f"""\
version: 1
name: create
steps:
  - id: create
    rest: {{url: "{server.url}/flaky/post-once?fail=1&status=503", method: POST, json: {{a: 1}}}}
    retry: {{attempts: 3, initial_delay: 10ms}}
"""
    result, _ = run(cli, write, text)
    assert result.code == 1
    assert (
        "warning: create: not retrying the 503: a POST is sent again only when it never "
        "reached the server or was refused with 429; set idempotent: true under retry if "
        "sending it twice is safe\n"
    ) in result.err
    assert len(server.requests_to("/flaky/post-once")) == 1


LOOP = """\
version: 1
name: stuck-loop
steps:
  - id: each
    for_each:
      items: "`[1]`"
      steps:
        - id: wait
          rest: {{url: "http://127.0.0.1:{port}/never"}}
          timeout: 120s
"""


def test_ctrl_c_in_a_loop_is_recorded_as_an_interruption(tmp_path):
    path = tmp_path / "loop.yaml"
    db = tmp_path / "h.db"
    code = "import sys; from hookline.cli import run_pipeline_main as m; sys.exit(m())"
    with silent_server() as (port, arrived):
        path.write_text(LOOP.format(port=port), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(path), "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},
        )
        wait_for(arrived, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    record = history(db)
    assert (record["status"], record["error"]) == ("interrupted", "interrupted by SIGINT (Ctrl-C)")
    assert [(i["status"], i["error"]) for i in record["iterations"]] == [
        ("interrupted", "interrupted by SIGINT (Ctrl-C)")
    ]


def test_the_empty_page_warning_masks_secrets_in_the_keys_it_names(cli, write, server, monkeypatch):
    # The page's keys come from the API: one may hold a secret's value.
    monkeypatch.setenv("API_TOKEN", "form")
    text = f"""\
version: 1
name: echo-pages
secrets: [API_TOKEN]
steps:
  - id: all
    rest:
      url: {server.url}/echo
      headers: {{X-Token: "${{{{ secrets.API_TOKEN }}}}"}}
      paginate: {{next_url: body.next, items: records}}
"""
    result, _ = run(cli, write, text)
    assert result.code == 0
    assert (
        "warning: all: paginate.items 'records' found nothing on the first page, so the step "
        "succeeds with 0 records (the page has: status, headers, body; body has: method, "
        "path, query, headers, json, ***, text)\n"
    ) in result.err
