"""GraphQL steps run against a real GraphQL server on 127.0.0.1: data, errors, partial data,
HTTP failures, dry run, history and redaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from graphql_support import shared_server
from pipeline_runner import run_yaml

from history_support import attempt_rows
from servers.graphql_app import GraphqlServer


@pytest.fixture
def graphql_server() -> GraphqlServer:
    return shared_server()


TOKEN = "shp_live_9Xq2Lm7RvT4kW8zN3cPb"


def pipeline(
    url: str, step: dict[str, Any], *, output: Any = "${{ steps.call }}", **more: Any
) -> str:
    """A one-step pipeline; ``more`` goes into the step beside its ``graphql`` key."""
    doc = {
        "version": 1,
        "name": "gql",
        "secrets": ["SHOP_TOKEN"],
        "connections": {
            "shop": {"graphql": {"url": url, "auth": {"bearer": "${{ secrets.SHOP_TOKEN }}"}}}
        },
        "steps": [{"id": "call", "graphql": {"connection": "shop", **step}, **more}],
        "output": output,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def run(tmp_path, capsys, monkeypatch, text, *args, input=None):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    return run_yaml(tmp_path, text, *args, input=input, capsys=capsys)


PRODUCT = {
    "query": "query Product($id: ID!) {\n  product(id: $id) { id title price tags }\n}\n",
    "variables": {"id": "${{ input.id }}"},
}


def test_the_result_is_data_and_variables_are_templates(
    graphql_server, tmp_path, capsys, monkeypatch
):
    graphql_server.token = TOKEN
    result = run(
        tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, PRODUCT), input={"id": "p-5"}
    )
    assert result.code == 0, result.err
    assert result.output == {
        "product": {"id": "p-5", "title": "Product 5", "price": 10.75, "tags": ["new"]}
    }
    (seen,) = graphql_server.requests
    assert seen.json == {
        "query": "query Product($id: ID!) {\n  product(id: $id) { id title price tags }\n}\n",
        "variables": {"id": "p-5"},
        "operationName": "Product",
    }
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"


def test_query_file_and_operation_name(graphql_server, tmp_path, capsys, monkeypatch):
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "shop.graphql").write_text(
        "query Name { shop { name } }\nquery Currency { shop { currency } }\n"
    )
    step = {"query_file": "queries/shop.graphql", "operation_name": "Currency"}
    result = run(tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, step))
    assert result.code == 0, result.err
    assert result.output == {"shop": {"currency": "EUR"}}
    assert graphql_server.operations() == ["Currency"]


def test_errors_fail_the_step_with_every_message_path_and_code(
    graphql_server, tmp_path, capsys, monkeypatch
):
    result = run(
        tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, PRODUCT), input={"id": "p-99"}
    )
    assert result.code == 1
    assert (
        "error: step 'call' failed: the GraphQL server answered 1 error: no product 'p-99' "
        "(path product, code NOT_FOUND)" in result.err
    )
    assert "Traceback" not in result.err


def test_on_error_sees_the_errors_as_data(graphql_server, tmp_path, capsys, monkeypatch):
    why = {
        "code": "${{ error.errors[0].code }}",
        "path": "${{ error.errors[0].path }}",
        "message": "${{ error.message }}",
    }
    text = pipeline(graphql_server.url, PRODUCT, on_error={"steps": [{"id": "why", "set": why}]})
    result = run(tmp_path, capsys, monkeypatch, text, input={"id": "p-99"})
    assert result.code == 0, result.err
    assert result.output == {
        "code": "NOT_FOUND",
        "path": ["product"],
        "message": "the GraphQL server answered 1 error: no product 'p-99' "
        "(path product, code NOT_FOUND)",
    }


CATALOG = {"query": "{ catalog { id price } }"}


def test_partial_data_fails_unless_allowed(graphql_server, tmp_path, capsys, monkeypatch):
    result = run(tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, CATALOG))
    assert result.code == 1
    assert (
        "the GraphQL server answered 1 error: price service unavailable "
        "(path catalog.2.price, code UPSTREAM_DOWN)" in result.err
    )


def test_allow_partial_keeps_the_data_and_warns(graphql_server, tmp_path, capsys, monkeypatch):
    step = {**CATALOG, "allow_partial": True}
    result = run(tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, step))
    assert result.code == 0, result.err
    prices = [p["price"] for p in result.output["catalog"]]
    assert prices == [5.75, 7.0, None, 9.5, 10.75]
    assert (
        "call: partial data kept (allow_partial); the GraphQL server answered 1 error: "
        "price service unavailable (path catalog.2.price, code UPSTREAM_DOWN)" in result.err
    )
    (attempt,) = attempt_rows(result.db)
    assert "UPSTREAM_DOWN" in attempt["response"]["body"]


SHOP = {"query": "{ shop { name } }"}


def test_http_401_with_errors_is_reported_as_for_rest_with_the_errors(
    graphql_server, tmp_path, capsys, monkeypatch
):
    graphql_server.token = "another-token-entirely"
    why = {"status": "${{ error.status }}", "code": "${{ error.errors[0].code }}"}
    text = pipeline(graphql_server.url, SHOP, on_error={"steps": [{"id": "why", "set": why}]})
    result = run(tmp_path, capsys, monkeypatch, text)
    assert result.code == 0, result.err
    assert result.output == {"status": 401, "code": "UNAUTHENTICATED"}
    assert f"POST {graphql_server.url} answered 401 Unauthorized" in result.err


def test_html_invalid_json_and_not_graphql_answers(graphql_server, tmp_path, capsys, monkeypatch):
    text = pipeline(graphql_server.url, SHOP)
    graphql_server.answer = "html"
    html = run(tmp_path, capsys, monkeypatch, text)
    assert html.code == 1
    assert (
        f"error: step 'call' failed: POST {graphql_server.url} answered 200 with text/html, "
        "not a GraphQL response (a JSON object with 'data' or 'errors'); it begins: "
        "'<html><body>Maintenance</body></html>'" in html.err
    )
    graphql_server.answer = "bad-json"
    bad = run(tmp_path, capsys, monkeypatch, text)
    assert bad.code == 1
    assert (
        f"error: step 'call' failed: POST {graphql_server.url} answered 200 with "
        "Content-Type application/json but the body is not valid JSON" in bad.err
    )
    graphql_server.answer = "not-graphql"
    other = run(tmp_path, capsys, monkeypatch, text)
    assert other.code == 1
    assert "answered 200 with application/json, not a GraphQL response" in other.err
    for outcome in (html, bad, other):
        assert "Traceback" not in outcome.err


def test_dry_run_sends_nothing_and_shows_the_query(graphql_server, tmp_path, capsys, monkeypatch):
    text = pipeline(graphql_server.url, PRODUCT, output="done")
    result = run(tmp_path, capsys, monkeypatch, text, "--dry-run", input={"id": "p-1"})
    assert result.code == 0, result.err
    assert graphql_server.requests == []
    (request,) = result.output["requests"]
    assert request["method"] == "POST"
    assert request["url"] == graphql_server.url
    assert request["body"]["variables"] == {"id": "p-1"}
    assert request["body"]["query"].startswith("query Product($id: ID!) {")
    assert TOKEN not in result.out + result.err


def test_the_token_never_reaches_the_log_or_history(graphql_server, tmp_path, capsys, monkeypatch):
    # The server echoes nothing, so make the query carry the token in a variable value.
    step = {
        "query": "query Search($term: String!) { searchProducts(term: $term) { id } }\n",
        "variables": {"term": "${{ secrets.SHOP_TOKEN }}"},
    }
    result = run(tmp_path, capsys, monkeypatch, pipeline(graphql_server.url, step), "--verbose")
    assert result.code == 0, result.err
    assert graphql_server.requests[0].json["variables"] == {"term": TOKEN}
    assert TOKEN not in result.out + result.err
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("history.db*"))
    assert TOKEN.encode() not in raw
    (attempt,) = attempt_rows(result.db)
    sent = json.loads(attempt["request"]["body"])
    assert sent["query"] == "query Search($term: String!) { searchProducts(term: $term) { id } }\n"
    assert sent["variables"] == {"term": "***"}


def test_an_error_that_echoes_a_secret_is_masked_everywhere(
    graphql_server, tmp_path, capsys, monkeypatch
):
    step = {**PRODUCT, "variables": {"id": "${{ secrets.SHOP_TOKEN }}"}}
    why = {"message": "${{ error.errors[0].message }}", "text": "${{ error.message }}"}
    text = pipeline(graphql_server.url, step, on_error={"steps": [{"id": "why", "set": why}]})
    result = run(tmp_path, capsys, monkeypatch, text, "--verbose")
    assert result.code == 0, result.err
    assert result.output == {
        "message": "no product '***'",
        "text": "the GraphQL server answered 1 error: no product '***' (path product, code "
        "NOT_FOUND)",
    }
    assert TOKEN not in result.out + result.err
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("history.db*"))
    assert TOKEN.encode() not in raw
