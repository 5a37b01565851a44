"""Relay pagination of GraphQL steps against the real server, with REST's guards."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from graphql_support import shared_server
from pipeline_runner import run_yaml

from servers.graphql_app import GraphqlServer


@pytest.fixture
def graphql_server() -> GraphqlServer:
    return shared_server()


QUERY = """\
query Products($first: Int, $after: String) {
  FIELD(first: $first, after: $after) {
    edges { node { id sku } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def pipeline(url: str, field: str = "products", **paginate: Any) -> str:
    step = {
        "connection": "shop",
        "query": QUERY.replace("FIELD", field),
        "variables": {"first": 10},
        "paginate": {"relay": {"path": field, "cursor_variable": "after"}, **paginate},
    }
    doc = {
        "version": 1,
        "name": "relay",
        "connections": {"shop": {"graphql": {"url": url}}},
        "steps": [{"id": "all", "graphql": step}],
        "output": {
            "ids": "${{ steps.all.items[].id }}",
            "pages": "${{ steps.all.pages }}",
            "last_page_has_next": "${{ steps.all.data." + field + ".pageInfo.hasNextPage }}",
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_every_node_of_every_page(graphql_server, tmp_path, capsys):
    result = run_yaml(tmp_path, pipeline(graphql_server.url), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {
        "ids": [f"p-{n}" for n in range(1, 36)],
        "pages": 4,
        "last_page_has_next": False,
    }
    sent = [r.json["variables"] for r in graphql_server.requests]
    assert sent == [
        {"first": 10},
        {"first": 10, "after": "Y3Vyc29yOjEw"},
        {"first": 10, "after": "Y3Vyc29yOjIw"},
        {"first": 10, "after": "Y3Vyc29yOjMw"},
    ]


def test_stopping_at_max_pages_with_pages_left_is_a_warning(graphql_server, tmp_path, capsys):
    result = run_yaml(tmp_path, pipeline(graphql_server.url, max_pages=2), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output["ids"] == [f"p-{n}" for n in range(1, 21)]
    assert result.output["pages"] == 2
    assert (
        "all: stopped at max_pages=2 while the API has more pages; 20 records fetched, "
        "the rest were not" in result.err
    )
    assert len(graphql_server.requests) == 2


def test_a_repeated_cursor_is_an_error_not_an_endless_loop(graphql_server, tmp_path, capsys):
    result = run_yaml(tmp_path, pipeline(graphql_server.url, "loopingProducts"), capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'all' failed: pagination loops: page 2 gives the same cursor as page 1 "
        "('Y3Vyc29yOjEw'); stopped instead of looping forever" in result.err
    )
    assert len(graphql_server.requests) == 2


def test_a_response_without_the_connection_names_the_path(graphql_server, tmp_path, capsys):
    text = pipeline(graphql_server.url).replace("path: products", "path: shop.products")
    text = text.replace("products(first", "shop { name } products(first")
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 2, "the path is checked against the query before the run"
    assert (
        "paginate.relay.path 'shop.products': the query selects no field 'products' under shop"
        in result.err
    )
