"""Which steps a resumed run may send again (the rule retries follow), checked on loaded
pipelines: no network is needed to decide."""

from __future__ import annotations

import textwrap

import pytest

from hookline import load_pipeline
from hookline._checkpoint_rules import redo_rule

PIPELINE = """\
version: 1
name: rules
connections:
  api:
    rest: {base_url: "https://api.example.com"}
  safe_api:
    rest: {base_url: "https://api.example.com", retry: {attempts: 3, idempotent: true}}
  shop:
    graphql: {url: "https://shop.example.com/graphql"}
steps:
  - id: read
    rest: {connection: api, path: /a}
  - id: replace
    rest: {connection: api, method: PUT, path: /a}
  - id: create
    rest: {connection: api, method: POST, path: /a}
  - id: create_marked
    rest: {connection: api, method: POST, path: /a}
    retry: {attempts: 2, idempotent: true}
  - id: create_on_safe_connection
    rest: {connection: safe_api, method: PATCH, path: /a}
  - id: ask
    graphql: {connection: shop, query: "query { shop { name } }"}
  - id: tag
    graphql: {connection: shop, query: "mutation { tag(id: 1) { id } }"}
  - id: local
    set: 1
  - id: reads_in_a_loop
    for_each:
      items: "[`1`, `2`]"
      steps:
        - id: one
          rest: {connection: api, path: /b}
  - id: posts_in_a_loop
    for_each:
      items: "[`1`, `2`]"
      steps:
        - id: each
          set: 1
        - id: post_each
          rest: {connection: api, method: POST, path: /b}
  - id: read_with_fallback
    rest: {connection: api, path: /a}
    on_error:
      steps:
        - id: report
          rest: {connection: api, method: POST, path: /report}
"""

EXPECTED = {
    "read": (True, True, "'read' sends a GET, safe to send again"),
    "replace": (True, True, "'replace' sends a PUT, safe to send again"),
    "create": (True, False, "'create' sends a POST, which is not safe to send twice"),
    "create_marked": (True, True, "'create_marked' is marked idempotent: true"),
    "create_on_safe_connection": (
        True,
        True,
        "'create_on_safe_connection' is marked idempotent: true",
    ),
    "ask": (True, True, "'ask' is a GraphQL query, safe to send again"),
    "tag": (True, False, "'tag' is a GraphQL mutation, which is not safe to send twice"),
    "local": (False, True, "it sends no request"),
    "reads_in_a_loop": (True, True, "'one' sends a GET, safe to send again"),
    "posts_in_a_loop": (
        True,
        False,
        "its inner step 'post_each' sends a POST, which is not safe to send twice",
    ),
    "read_with_fallback": (True, False, "'report' sends a POST, which is not safe to send twice"),
}


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "p.yaml"
    path.write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    pipeline = load_pipeline(path)
    return pipeline, {step.id: step for step in pipeline.steps}


@pytest.mark.parametrize("step_id", sorted(EXPECTED))
def test_redo_rule(steps, step_id):
    pipeline, by_id = steps
    rule = redo_rule(by_id[step_id], pipeline)
    assert (rule.reaches_server, rule.safe, rule.why) == EXPECTED[step_id]
