"""What `hookline check` (and every run) finds in GraphQL steps before anything is sent,
each at its line and column; and `check --online` against the server's introspection."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql_support import shared_server

from servers.graphql_app import GraphqlServer

HERE = Path(__file__).parent / "graphql_checks"


@pytest.fixture
def graphql_server() -> GraphqlServer:
    return shared_server()


def test_every_problem_at_its_line_and_column(cli):
    path = HERE / "bad.yaml"
    result = cli("check", str(path))
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:{line}"
        for line in [
            "11:7: query P needs variable 'id' (ID!); add it under 'variables'",
            "11:19: variable 'idd' is not declared by query P; did you mean 'id'?",
            "13:5: query S needs variable 'term' (String!); add it under 'variables'",
            "19:19: cannot read the query file 'queries/missing.graphql': No such file or "
            "directory (paths are relative to the pipeline file)",
            "23:19: GraphQL syntax error: Expected Name, found the end of the query (line 5, "
            "column 1 of queries/broken.graphql)",
            "27:14: the document holds 2 operations (A, B); say which one to run with "
            "operation_name",
            "32:23: operation_name 'Alpah' is not an operation of the query; did you mean "
            "'Alpha'? (it holds: Alpha)",
            "38:23: paginate.relay.path 'products': a Relay connection needs pageInfo { "
            "hasNextPage endCursor } in the query",
            "38:50: query P declares no variable 'after' to send the cursor in; declare it, "
            "e.g. ($after: String)",
            "43:7: give 'query' or 'query_file', not both",
        ]
    ]


def test_defaults_fragments_and_the_cursor_variable_pass(cli):
    result = cli("check", str(HERE / "good.yaml"))
    assert (result.code, result.out) == (0, ""), result.out


def test_a_run_stops_at_the_same_problems_before_sending_anything(cli, graphql_server, tmp_path):
    text = (
        (HERE / "bad.yaml")
        .read_text()
        .replace("https://shop.example.com/graphql", graphql_server.url)
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = cli(str(path), prog="run-pipeline")
    assert result.code == 2
    assert f"{path}:11:19: variable 'idd' is not declared by query P" in result.err
    assert graphql_server.requests == []


ONLINE = """\
version: 1
name: online
connections:
  shop:
    graphql: {{url: "{url}"}}
steps:
  - id: one
    graphql:
      connection: shop
      query: "{{ shop {{ name }} produkts {{ totalCount }} }}"
  - id: two
    graphql:
      connection: shop
      query: "{{ product(id: 1) {{ titel }} }}"
"""


def test_check_online_validates_against_introspection_once(cli, graphql_server, tmp_path):
    path = tmp_path / "online.yaml"
    path.write_text(ONLINE.format(url=graphql_server.url))
    offline = cli("check", str(path))
    assert (offline.code, offline.out) == (0, "")
    assert graphql_server.requests == []
    online = cli("check", "--online", str(path))
    assert online.code == 2
    assert online.out.splitlines() == [
        f"{path}:10:14: GraphQL: Cannot query field 'produkts' on type 'Query'. Did you mean "
        "'products' or 'product'? (line 1, column 17 of the query)",
        f"{path}:14:14: GraphQL: Cannot query field 'titel' on type 'Product'. Did you mean "
        "'title'? (line 1, column 20 of the query)",
    ]
    assert len(graphql_server.requests) == 1, "introspection is fetched once per connection"
    assert "__schema" in graphql_server.requests[0].json["query"]


def test_check_online_reports_an_unreachable_server_at_the_url(cli, tmp_path):
    path = tmp_path / "online.yaml"
    path.write_text(ONLINE.format(url="http://127.0.0.1:9/graphql"))
    result = cli("check", "--online", str(path))
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:5:20: cannot fetch the GraphQL schema for --online checks: "
        "POST http://127.0.0.1:9/graphql: the connection was refused"
    ]


def test_a_query_file_that_is_not_a_small_regular_file(cli, tmp_path):
    (tmp_path / "big.graphql").write_text("{ shop { name } }" + " " * (1024 * 1024))
    path = tmp_path / "files.yaml"
    path.write_text(
        "version: 1\n"
        "name: files\n"
        "connections:\n"
        "  shop:\n"
        '    graphql: {url: "https://shop.example.com/graphql"}\n'
        "steps:\n"
        "  - id: a\n"
        "    graphql: {connection: shop, query_file: /dev/zero}\n"
        "  - id: b\n"
        "    graphql: {connection: shop, query_file: big.graphql}\n"
    )
    result = cli("check", str(path))
    assert result.code == 2
    assert result.out.splitlines() == [
        f"{path}:8:45: cannot read the query file '/dev/zero': not a regular file (paths are "
        "relative to the pipeline file)",
        f"{path}:10:45: the query file 'big.graphql' is larger than 1 MiB, the most a query "
        "file may hold",
    ]


def test_check_online_skips_a_url_that_only_a_run_can_render(cli, tmp_path):
    path = tmp_path / "online.yaml"
    path.write_text(ONLINE.format(url="${{ input.shop_url }}"))
    result = cli("check", "--online", str(path))
    assert (result.code, result.out) == (0, "")
