"""``expect.schema``: a REST body, every page of a paginated step, and GraphQL ``data``
checked against a JSON Schema, against real servers; mismatches named by their JSON path,
redacted, caught by on_error; a bad schema located when the file is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import yaml
from graphql_support import shared_server
from pipeline_runner import run_yaml

from connectors.soap_support import connection, run_soap, soap_server, soap_server_session
from hookline.cli import main

__all__ = ["soap_server", "soap_server_session"]  # fixtures, imported for pytest

RECORDS = {"records": [{"id": "a1"}, {"id": "b2"}, {"id": "c3"}, {"id": None}]}


def rest(url, expect, *, body=RECORDS, more=None, output="${{ steps.call.body.json }}"):
    doc = {
        "version": 1,
        "name": "expects",
        "connections": {"api": {"rest": {"base_url": url}}},
        "steps": [
            {
                "id": "call",
                "rest": {
                    "connection": "api",
                    "method": "POST",
                    "path": "/echo",
                    "json": body,
                    "expect": expect,
                },
                **(more or {}),
            }
        ],
        "output": output,
    }
    return yaml.safe_dump(doc, sort_keys=False)


ID_SCHEMA = {
    "type": "object",
    "properties": {
        "json": {
            "type": "object",
            "properties": {
                "records": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}},
                        "required": ["id"],
                    },
                }
            },
            "required": ["records"],
        }
    },
}


def test_a_body_that_breaks_the_schema_fails_the_step_naming_the_path(
    rest_server, tmp_path, capsys
):
    result = run_yaml(tmp_path, rest(rest_server.url, {"schema": ID_SCHEMA}), capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'call' failed: the response body does not match expect.schema: "
        "body.json.records[3].id: expected a string, got nothing (null)" in result.err
    )


def test_a_body_that_matches_passes_and_statuses_still_count(rest_server, tmp_path, capsys):
    body = {"records": [{"id": "a1"}]}
    text = rest(rest_server.url, {"status": [200], "schema": ID_SCHEMA}, body=body)
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == body
    # The list form still works, and a status outside `status` fails as before.
    text = rest(rest_server.url, {"status": [201], "schema": ID_SCHEMA}, body=body)
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1
    assert "/echo answered 200 OK" in result.err


def test_on_error_sees_the_mismatch(rest_server, tmp_path, capsys):
    text = rest(
        rest_server.url,
        {"schema": ID_SCHEMA},
        more={"on_error": "continue"},
        output="${{ steps.call.error.message }}",
    )
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 0, result.err
    assert result.output == (
        "the response body does not match expect.schema: body.json.records[3].id: expected "
        "a string, got nothing (null)"
    )


def test_mismatches_are_capped_and_redacted(rest_server, tmp_path, capsys, monkeypatch):
    secret = "sk_live_Zq81mVt3Lp0sY6wQ"
    monkeypatch.setenv("API_SECRET", secret)
    body = {"records": [{"id": n} for n in range(50)] + [{"id": "${{ secrets.API_SECRET }}"}]}
    schema = {
        "type": "object",
        "properties": {
            "json": {
                "properties": {
                    "records": {
                        "items": {"properties": {"id": {"type": "string", "pattern": "^x"}}}
                    }
                }
            }
        },
    }
    doc = yaml.safe_load(rest(rest_server.url, {"schema": schema}, body=body))
    doc["secrets"] = ["API_SECRET"]
    result = run_yaml(tmp_path, yaml.safe_dump(doc), capsys=capsys)
    assert result.code == 1
    assert (
        "body.json.records[0].id: expected a string, got 0 (a number); "
        "body.json.records[1].id: expected a string, got 1 (a number)" in result.err
    )
    assert "body.json.records[5].id" not in result.err
    assert "; more mismatches not shown" in result.err
    # Only the secret record, alone: its value is masked in the message.
    body = {"records": [{"id": "${{ secrets.API_SECRET }}"}]}
    doc = yaml.safe_load(rest(rest_server.url, {"schema": schema}, body=body))
    doc["secrets"] = ["API_SECRET"]
    result = run_yaml(tmp_path, yaml.safe_dump(doc), capsys=capsys)
    assert result.code == 1
    assert "body.json.records[0].id: '***' (a string) does not match the pattern ^x" in result.err
    assert secret not in result.err + result.out


def test_a_hostile_pattern_match_is_stopped_by_the_time_budget(rest_server, tmp_path, capsys):
    # ^(a|aa)+$ on 40 a's and a b backtracks for longer than anyone would wait; the
    # matcher of input_schema stops it after its budget (2 s of CPU time).
    schema = {"properties": {"json": {"properties": {"name": {"pattern": "^(a|aa)+$"}}}}}
    text = rest(rest_server.url, {"schema": schema}, body={"name": "a" * 40 + "b"})
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'call' failed: the response body does not match expect.schema: body: "
        "matching the pattern ^(a|aa)+$ took more than 2 s (the time limit for expect.schema "
        "patterns): the response is refused" in result.err
    )


def test_every_page_of_a_paginated_step_is_checked(rest_server, tmp_path, capsys):
    text = f"""
        version: 1
        name: pages
        connections:
          api:
            rest: {{base_url: {rest_server.url}}}
        steps:
          - id: all
            rest:
              connection: api
              path: /pages/next
              expect:
                schema: {{required: [next], properties: {{next: {{type: string}}}}}}
              paginate: {{next_url: body.next, items: body.records}}
    """
    result = run_yaml(tmp_path, text, capsys=capsys)
    assert result.code == 1  # the last page (the tenth) has next: null
    assert (
        "error: step 'all' failed: the response body does not match expect.schema: "
        "body.next: expected a string, got nothing (null)" in result.err
    )
    assert len(rest_server.requests_to("/pages/next")) == 10


TOKEN = "shp_live_9Xq2Lm7RvT4kW8zN3cPb"


def graphql(url, step):
    doc = {
        "version": 1,
        "name": "gql",
        "secrets": ["SHOP_TOKEN"],
        "connections": {
            "shop": {"graphql": {"url": url, "auth": {"bearer": "${{ secrets.SHOP_TOKEN }}"}}}
        },
        "steps": [{"id": "call", "graphql": {"connection": "shop", **step}}],
        "output": "${{ steps.call }}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_graphql_data_that_breaks_the_schema_fails_the_step(tmp_path, capsys, monkeypatch):
    server = shared_server()
    server.token = TOKEN
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    step = {
        "query": "query { shop { name } }",
        "expect": {
            "schema": {"properties": {"shop": {"properties": {"name": {"type": "integer"}}}}}
        },
    }
    result = run_yaml(tmp_path, graphql(server.url, step), capsys=capsys)
    assert result.code == 1
    assert (
        "error: step 'call' failed: the GraphQL data does not match expect.schema: "
        "data.shop.name: expected a whole number, got 'Hookline Tea Shop' (a string)" in result.err
    )
    step["expect"] = {
        "schema": {"required": ["shop"], "properties": {"shop": {"required": ["name"]}}}
    }
    result = run_yaml(tmp_path, graphql(server.url, step), capsys=capsys)
    assert result.code == 0, result.err
    assert set(result.output["shop"]) == {"name"}


def test_every_relay_page_of_graphql_data_is_checked(tmp_path, capsys, monkeypatch):
    server = shared_server()
    server.token = TOKEN
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    node = {"properties": {"node": {"properties": {"id": {"pattern": "^p-[0-9]$"}}}}}
    step = {
        "query": "query P($after: String) { products(first: 5, after: $after) "
        "{ edges { node { id } } pageInfo { hasNextPage endCursor } } }",
        "paginate": {"relay": {"path": "products", "cursor_variable": "after"}},
        "expect": {"schema": {"properties": {"products": {"properties": {"edges": {
            "items": node}}}}}},
    }  # fmt: skip
    result = run_yaml(tmp_path, graphql(server.url, step), capsys=capsys)
    assert result.code == 1  # page 2 holds p-10
    assert (
        "error: step 'call' failed: the GraphQL data does not match expect.schema: "
        "data.products.edges[4].node.id: 'p-10' (a string) does not match the pattern "
        "^p-[0-9]$" in result.err
    )


def check(tmp_path, capsys, text):
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_bad_schema_is_located_when_the_file_is_checked(tmp_path, capsys):
    code, out = check(
        tmp_path,
        capsys,
        """
        version: 1
        name: bad
        steps:
          - id: call
            rest:
              url: http://127.0.0.1:9/x
              expect:
                status: [200]
                schema:
                  type: object
                  properties:
                    id: {type: strng}
                    owner: {$ref: "https://example.com/owner.json"}
                  requird: [id]
        """,
    )
    assert code == 2
    lines = [line.split("pipeline.yaml:", 1)[-1] for line in out.splitlines()]
    assert (
        "13:24: expect.schema is not a valid JSON Schema: properties.id.type: 'strng' (a "
        "string) is not one of array, boolean, integer, null, number, object, string; did you "
        "mean 'string'?" in lines
    ), out
    assert any(
        line.startswith("14:27: expect.schema is not a valid JSON Schema: properties.owner: "
                        "'$ref: https://example.com/owner.json' points outside this schema")
        for line in lines
    ), out  # fmt: skip
    assert any(
        line.startswith("15:11: expect.schema is not a valid JSON Schema: 'requird' is not a "
                        "JSON Schema keyword and would be ignored")
        for line in lines
    ), out  # fmt: skip


def test_a_graphql_expect_needs_a_schema(tmp_path, capsys):
    code, out = check(
        tmp_path,
        capsys,
        """
        version: 1
        name: bad
        connections:
          shop: {graphql: {url: "http://127.0.0.1:9/graphql"}}
        steps:
          - id: call
            graphql:
              connection: shop
              query: "{ shop { name } }"
              expect: {schema: {type: objekt}}
        """,
    )
    assert code == 2
    assert ":11:31: expect.schema is not a valid JSON Schema: type: 'objekt'" in out, out


_PROBE = """
import sys
from hookline.cli import main
code = main(["check", sys.argv[1]])
print(code, "regex" in sys.modules)
"""


def test_the_schema_machinery_loads_only_for_a_step_with_expect_schema(tmp_path):
    # In a fresh interpreter: modules imported by other tests cannot hide an import.
    step = "rest: {url: 'http://127.0.0.1:9/x', expect: EXPECT}"
    seen = []
    for expect in ("[200]", "{schema: {type: object}}"):
        path = tmp_path / "pipeline.yaml"
        path.write_text(
            "version: 1\nname: lazy\nsteps:\n  - id: call\n    "
            + step.replace("EXPECT", expect)
            + "\n",
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")},  # no remembered check
        )
        seen.append(done.stdout.split())
    assert seen == [["0", "False"], ["0", "True"]]


def test_the_mapping_form_of_expect_is_checked_like_the_list(tmp_path, capsys):
    code, out = check(
        tmp_path,
        capsys,
        """\
        version: 1
        name: forms
        steps:
          - id: a
            rest: {url: "http://127.0.0.1:9/x", expect: {}}
          - id: b
            rest: {url: "http://127.0.0.1:9/x", expect: {status: 200}}
          - id: c
            rest: {url: "http://127.0.0.1:9/x", expect: {statuses: [200]}}
        """,
    )
    assert code == 2
    lines = [line.split("pipeline.yaml:", 1)[-1] for line in out.splitlines()]
    assert "5:49: steps[0].rest.expect: must not be empty" in lines
    assert "7:58: steps[1].rest.expect.status: expected a list, got 200 (a number)" in lines
    assert any(
        line.startswith(
            "9:50: steps[2].rest.expect: unknown key 'statuses'; did you mean 'status'?"
        )
        for line in lines
    ), out


def test_concurrent_iterations_check_their_answers_each_on_its_own_budget(
    rest_server, tmp_path, capsys
):
    schema = {"properties": {"json": {"properties": {"id": {"pattern": "^n[0-9]+$"}}}}}
    doc = {
        "version": 1,
        "name": "many",
        "connections": {"api": {"rest": {"base_url": rest_server.url}}},
        "steps": [
            {
                "id": "each",
                "for_each": {
                    "items": "input",
                    "concurrency": 4,
                    "steps": [
                        {
                            "id": "call",
                            "rest": {
                                "connection": "api",
                                "method": "POST",
                                "path": "/echo",
                                "json": {"id": "${{ item }}"},
                                "expect": {"schema": schema},
                            },
                        }
                    ],
                    "output": "${{ steps.call.body.json.id }}",
                },
            }
        ],
        "output": "${{ steps.each }}",
    }
    items = [f"n{i}" for i in range(23)] + ["x23"]
    result = run_yaml(tmp_path, yaml.safe_dump(doc), input=items, capsys=capsys)
    assert result.code == 1  # every answer checked; only the last breaks the pattern
    assert "body.json.id: 'x23' (a string) does not match the pattern ^n[0-9]+$" in result.err
    assert len(rest_server.requests_to("/echo")) == 24


def test_a_soap_result_that_breaks_the_schema_fails_the_step(soap_server, tmp_path, capsys):
    steps = """\
steps:
  - id: find
    soap:
      connection: crm
      operation: FindLeadByEmail
      args: {email: "${{ input.email }}"}
      expect:
        schema: {required: [id, score], properties: {score: {type: integer}}}
output: "${{ steps.find.id }}"
"""
    text = "version: 1\nname: soap-expect\n" + connection(soap_server) + steps
    result = run_soap(tmp_path, text, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 1
    assert (
        "error: step 'find' failed: the SOAP result does not match expect.schema: "
        "result.score: expected a whole number, got 87.5 (a number)" in result.err
    )
    matching = text.replace("{type: integer}", "{type: number}")
    result = run_soap(tmp_path, matching, capsys=capsys, input={"email": "ada@example.com"})
    assert result.code == 0, result.err
    assert result.output == "L-1001"
