"""A Relay-paginated GraphQL step whose first page's edges hold no node warns, as REST's
``items`` that find nothing do: in the log and in the step's result in the history."""

from __future__ import annotations

import json

import pytest
import yaml
from graphql_support import shared_server
from pipeline_runner import run_yaml

from hookline.cli import main
from servers.graphql_app import GraphqlServer


@pytest.fixture
def graphql_server() -> GraphqlServer:
    return shared_server()


# The connection is selected through a fragment, which the check at load trusts; the
# fragment forgets ``node``: every item would be null.
QUERY = """\
query Products($first: Int, $after: String) {
  products(first: $first, after: $after) { ...Page }
}
fragment Page on ProductConnection {
  edges { EDGE }
  pageInfo { hasNextPage endCursor }
}
"""


def pipeline(url: str, edge: str) -> str:
    step = {
        "connection": "shop",
        "query": QUERY.replace("EDGE", edge),
        "variables": {"first": 3},
        "paginate": {"relay": {"path": "products", "cursor_variable": "after"}, "max_pages": 2},
    }
    doc = {
        "version": 1,
        "name": "relay",
        "connections": {"shop": {"graphql": {"url": url}}},
        "steps": [{"id": "all", "graphql": step}],
        "output": {"items": "${{ steps.all.items }}"},
    }
    return yaml.safe_dump(doc, sort_keys=False)


WARNING = (
    "all: paginate.relay.path 'products' found nothing on the first page: its 3 edges hold "
    "no node, so the step's items are 3 nulls (an edge has: cursor); select "
    "edges { node { ... } } in the query"
)


def test_edges_without_a_node_on_the_first_page_warn(graphql_server, tmp_path, capsys):
    result = run_yaml(tmp_path, pipeline(graphql_server.url, "cursor"), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"items": [None] * 6}  # two pages, max_pages: 2
    assert f"warning: {WARNING}\n" in result.err
    assert result.err.count("found nothing") == 1  # the first page only
    assert main(["runs", "--db", str(result.db), "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert main(["runs", "show", row["id"], "--db", str(result.db), "--format", "json"]) == 0
    [step] = json.loads(capsys.readouterr().out)["steps"]
    assert step["result"]["warning"] == WARNING


def test_edges_with_their_nodes_do_not_warn(graphql_server, tmp_path, capsys):
    result = run_yaml(tmp_path, pipeline(graphql_server.url, "node { id }"), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"items": [{"id": f"p-{n}"} for n in range(1, 7)]}
    assert "found nothing" not in result.err


# Fragments at the edges and pageInfo level: the check at load trusts them too (it once
# refused this valid query, saying the query lacked edges { node }).
FRAGMENTED = """\
query Products($first: Int, $after: String) {
  products(first: $first, after: $after) {
    edges { ...Edge }
    pageInfo { ...Info }
  }
}
fragment Edge on ProductEdge { node { id } }
fragment Info on PageInfo { hasNextPage endCursor }
"""


def test_edges_and_page_info_selected_through_fragments_are_trusted(
    graphql_server, tmp_path, capsys
):
    doc = yaml.safe_load(pipeline(graphql_server.url, "cursor"))
    doc["steps"][0]["graphql"]["query"] = FRAGMENTED
    result = run_yaml(tmp_path, yaml.safe_dump(doc, sort_keys=False), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"items": [{"id": f"p-{n}"} for n in range(1, 7)]}
