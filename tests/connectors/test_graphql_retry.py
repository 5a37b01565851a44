"""Retries of GraphQL requests: a query reads, so it is retried like a GET; a mutation is
retried only when it surely did not reach the server, or when the step says it is
idempotent."""

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


QUERY = "{ shop { name } }"
MUTATION = 'mutation { productTag(id: "p-1", tag: "sale") { id tags } }'


def pipeline(url: str, query: str, **retry: Any) -> str:
    doc = {
        "version": 1,
        "name": "retry",
        "connections": {"shop": {"graphql": {"url": url}}},
        "steps": [
            {
                "id": "call",
                "graphql": {"connection": "shop", "query": query},
                "retry": {"attempts": 3, "initial_delay": "10ms", **retry},
            }
        ],
        "output": "${{ steps.call }}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_a_query_is_retried_on_503(graphql_server, tmp_path, capsys):
    graphql_server.fail_next = 2
    result = run_yaml(tmp_path, pipeline(graphql_server.url, QUERY), capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"shop": {"name": "Hookline Tea Shop"}}
    assert len(graphql_server.requests) == 3
    assert "call: attempt 1 answered 503; retrying in" in result.err


def test_a_mutation_is_not_retried_on_503(graphql_server, tmp_path, capsys):
    graphql_server.fail_next = 1
    result = run_yaml(tmp_path, pipeline(graphql_server.url, MUTATION), capsys=capsys)
    assert result.code == 1
    assert f"error: step 'call' failed: POST {graphql_server.url} answered 503" in result.err
    assert len(graphql_server.requests) == 1
    assert graphql_server.shop.tagged == []


def test_an_idempotent_mutation_is_retried(graphql_server, tmp_path, capsys):
    graphql_server.fail_next = 1
    text = pipeline(graphql_server.url, MUTATION, idempotent=True)
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == {"productTag": {"id": "p-1", "tags": ["sale"]}}
    assert len(graphql_server.requests) == 2
    assert graphql_server.shop.tagged == [("p-1", "sale")]


def test_a_dropped_connection_repeats_a_query_but_not_a_mutation(graphql_server, tmp_path, capsys):
    graphql_server.answer = "drop"
    query = run_yaml(tmp_path, pipeline(graphql_server.url, QUERY), capsys=capsys)
    assert query.code == 1
    assert len(graphql_server.requests) == 3, "a query is sent again after the break"
    assert f"POST {graphql_server.url}: the connection broke" in query.err

    graphql_server.reset()
    graphql_server.answer = "drop"
    mutation = run_yaml(tmp_path, pipeline(graphql_server.url, MUTATION), capsys=capsys)
    assert mutation.code == 1
    assert len(graphql_server.requests) == 1
    assert (
        f"error: step 'call' failed: POST {graphql_server.url}: the connection broke "
        "(not retried: a POST may have reached the server; set idempotent: true if repeating "
        "it is safe)" in mutation.err
    )
