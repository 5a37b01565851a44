"""The HTTP client's defences hold for GraphQL as for REST (the response size cap, the
step's timeout over every page), and gql is imported only by runs that use GraphQL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from graphql_support import shared_server
from pipeline_runner import run_yaml

from servers.graphql_app import GraphqlServer
from support import ROOT


@pytest.fixture
def graphql_server() -> GraphqlServer:
    return shared_server()


QUERY = """\
query Products($first: Int, $after: String) {
  products(first: $first, after: $after) {
    edges { node { id sku title price stock tags } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


PAGINATE = {"relay": {"path": "products", "cursor_variable": "after"}}


def pipeline(url: str, connection: dict, first: int = 35, paginate: dict | None = None,
             **step: object) -> str:  # fmt: skip
    graphql = {"connection": "shop", "query": QUERY, "variables": {"first": first}}
    if paginate:
        graphql["paginate"] = paginate
    doc = {
        "version": 1,
        "name": "limits",
        "connections": {"shop": {"graphql": {"url": url, **connection}}},
        "steps": [
            {
                "id": "all",
                "graphql": graphql,
                **step,
            }
        ],
        "output": "${{ length(steps.all.products.edges) }}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_the_response_size_cap_applies(graphql_server, tmp_path, capsys):
    small = run_yaml(
        tmp_path, pipeline(graphql_server.url, {"max_response_size": "1KB"}), capsys=capsys
    )
    assert small.code == 1
    assert "error: step 'all' failed:" in small.err
    assert "the response body is larger than max_response_size" in small.err
    assert "Traceback" not in small.err
    enough = run_yaml(tmp_path, pipeline(graphql_server.url, {}), capsys=capsys)
    assert (enough.code, enough.output) == (0, 35)


_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from hookline.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(sys.argv[1:])
    print(json.dumps({"code": code, "err": err.getvalue(),
                      "gql": "gql" in sys.modules, "graphql": "graphql" in sys.modules}))
    """
)


def imports(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_gql_is_imported_by_a_graphql_run_only(graphql_server, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(pipeline(graphql_server.url, {}))
    checked = imports("check", str(path))
    assert checked == {"code": 0, "err": "1 file checked: all valid\n", "gql": False,
                       "graphql": True}  # fmt: skip
    ran = imports("run", str(path), "--db", str(tmp_path / "h.db"))
    assert ran["code"] == 0, ran["err"]
    assert ran["gql"] is True
    rest_only = imports("check", str(ROOT / "pipelines" / "contacts-to-airtable.yaml"))
    assert (rest_only["gql"], rest_only["graphql"]) == (False, False)


def test_the_step_timeout_bounds_every_page_together(graphql_server, tmp_path, capsys):
    graphql_server.delay = 0.4
    text = pipeline(graphql_server.url, {}, first=5, paginate=PAGINATE, timeout="1s")
    started = time.monotonic()
    result = run_yaml(tmp_path, text, capsys=capsys)
    elapsed = time.monotonic() - started
    assert result.code == 1
    # Cut in the middle of a page's request, or between two pages: both say so.
    (last,) = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert last.startswith("error: step 'all' failed: ")
    assert "timed out after 1s" in last
    assert elapsed < 1 + 1, "finished within the step's deadline and a second"
    assert 2 <= len(graphql_server.requests) <= 3
