"""Whatever a GraphQL server answers, a run ends with exit 0 or 1 and a message: never a
traceback, never exit 3 (property-based, over generated answers)."""

from __future__ import annotations

import json

import pytest
import yaml
from graphql_support import shared_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_runner import run_yaml

from servers.graphql_app import GraphqlServer

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ERROR = st.fixed_dictionaries(
    {},
    optional={
        "message": JSON,
        "path": JSON,
        "locations": JSON,
        "extensions": st.one_of(JSON, st.fixed_dictionaries({"code": JSON})),
    },
)
PAGE = st.fixed_dictionaries(
    {},
    optional={
        "edges": st.one_of(JSON, st.lists(st.fixed_dictionaries({}, optional={"node": JSON}))),
        "pageInfo": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {}, optional={"hasNextPage": JSON, "endCursor": st.one_of(JSON, st.text())}
            ),
        ),
    },
)
BODY = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "data": st.one_of(JSON, st.fixed_dictionaries({"products": PAGE})),
            "errors": st.one_of(JSON, st.lists(st.one_of(ERROR, JSON), max_size=3)),
            "extensions": JSON,
        },
    ),
)
STATUS = st.sampled_from(["200 OK", "400 Bad Request", "401 Unauthorized", "500 Oops"])
TYPES = st.sampled_from(["application/json", "application/graphql-response+json", "text/plain"])

QUERY = """\
query P($after: String) {
  products(after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
}
"""


def pipeline(url: str, paginate: bool, partial: bool) -> str:
    step: dict[str, object] = {"connection": "shop", "query": QUERY, "allow_partial": partial}
    if paginate:
        step["paginate"] = {"relay": {"path": "products", "cursor_variable": "after"},
                            "max_pages": 3}  # fmt: skip
    doc = {
        "version": 1,
        "name": "hostile",
        "connections": {"shop": {"graphql": {"url": url}}},
        "steps": [{"id": "q", "graphql": step}],
        "output": "${{ steps.q }}",
    }
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def server() -> GraphqlServer:
    return shared_server()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODY, status=STATUS, content_type=TYPES, paginate=st.booleans(),
       partial=st.booleans())  # fmt: skip
def test_any_answer_ends_in_exit_0_or_1(
    server, tmp_path, capsys, body, status, content_type, paginate, partial
):
    server.reset()
    server.raw = (status, content_type, json.dumps(body).encode())
    result = run_yaml(tmp_path, pipeline(server.url, paginate, partial), capsys=capsys)
    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err
    assert "internal error" not in result.err
    if result.code == 1:
        assert "error: step 'q' failed: " in result.err
