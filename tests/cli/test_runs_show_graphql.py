"""``hookline runs show`` prints a GraphQL request as its query text, then its variables."""

from __future__ import annotations

import json

import yaml

from servers.graphql_app import GraphqlServer

QUERY = "query Product($id: ID!) {\n  product(id: $id) {\n    id\n    title\n  }\n}\n"


def test_runs_show_prints_a_graphql_query_as_text_and_its_variables_as_json(cli, tmp_path):
    server = GraphqlServer().start()
    try:
        doc = {
            "version": 1,
            "name": "gql",
            "connections": {"shop": {"graphql": {"url": server.url}}},
            "steps": [
                {
                    "id": "call",
                    "graphql": {"connection": "shop", "query": QUERY, "variables": {"id": "p-5"}},
                }
            ],
            "output": "${{ steps.call }}",
        }
        path = tmp_path / "gql.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        db = str(tmp_path / "h.db")
        assert cli("run", str(path), "--db", db).code == 0
    finally:
        server.stop()
    run_id = json.loads(cli("runs", "--db", db, "--format", "json").out)[0]["id"]
    shown = cli("runs", "show", run_id, "--db", db)
    assert shown.code == 0, shown.err
    assert (
        "        query Product($id: ID!) {\n"
        "          product(id: $id) {\n"
        "            id\n"
        "            title\n"
        "          }\n"
        "        }\n"
        "        {\n"
        '          "variables": {\n'
        '            "id": "p-5"\n'
        "          },\n"
        '          "operationName": "Product"\n'
        "        }\n"
    ) in shown.out
    assert "\\n" not in shown.out.split("← 200")[0]  # no escaped query on one line
