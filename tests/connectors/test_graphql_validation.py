"""A query is validated against an SDL file with only the rules that can fire on it: the
problems found, and their order, are those of graphql-core's full ``validate``."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse, validate

from hookline.connectors._graphql_document import validation_errors

SDL = """
directive @cached(ttl: Int!) on FIELD
type Query { order(id: ID!): Order  orders(first: Int): [Order!]!  node(id: ID!): Node }
type Mutation { cancel(id: ID!): Order }
type Subscription { orderPlaced: Order  orderPaid: Order }
interface Node { id: ID! }
type Order implements Node { id: ID!  name: String!  total: Float  tags: [String!]! }
type Page implements Node { id: ID!  title: String }
"""

QUERIES = [
    # each of these breaks a rule that is skipped for documents without its text
    "query Q { order(id: 1) { id @skip } }",
    "query Q { order(id: 1) { id @nope } }",
    "query Q { order(id: 1) { id @cached(ttl: 1) @cached(ttl: 2) } }",
    "query Q { orders @stream { id } }",
    "query Q { order(id: 1) { ...Missing } }",
    "query Q { order(id: 1) { ...P } } fragment P on Page { title }",
    "query Q { order(id: 1) { id } } fragment Unused on Order { id }",
    "query Q { order(id: 1) { ...A } } fragment A on Order { ...A }",
    "query Q { order(id: 1) { ...A } } fragment A on Order { id } fragment A on Order { name }",
    "query Q { order(id: 1) { ... on String { x } } }",
    "query Q { order(id: 1) { name } } fragment F on Float { x }",
    "subscription S { orderPlaced { id } orderPaid { id } }",
    "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
    # and rules that always run
    "query Q { order(id: 1) { nme } }",
    "query Q($id: ID) { order(id: $id) { id } }",
    "query Q { order { id } }",
    "query Q { order(id: 1) }",
    "query Q($x: Int) { order(id: $y) { id } }",
    "query Q { order(id: 1) { id } } query Q { order(id: 2) { id } }",
    "{ a: order(id: 1) { id } a: order(id: 1) { name } }",
    "mutation { cancel(id: 1, id: 2) { id } }",
    # and valid ones, with and without fragments and directives
    "query Q { order(id: 1) { id name } }",
    "query Q($s: Boolean!) { order(id: 1) { id @include(if: $s) ...F } } "
    "fragment F on Order { tags }",
    "query Q { node(id: 1) { ... on Page { title } ... on Order { name } } }",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_same_problems_as_every_rule(query):
    schema = build_schema(SDL)
    document = parse(query)
    expected = [(e.message, e.locations) for e in validate(schema, document)]
    got = [(e.message, e.locations) for e in validation_errors(schema, document)]
    assert got == expected


def test_the_rules_that_need_a_text_run_when_it_is_there():
    """Without the directive rules, an unknown directive would pass."""
    schema = build_schema(SDL)
    errors = validation_errors(schema, parse("query Q { order(id: 1) { id @nope } }"))
    assert [e.message for e in errors] == ["Unknown directive '@nope'."]
    errors = validation_errors(schema, parse("query Q { order(id: 1) { ...Missing } }"))
    assert [e.message for e in errors] == ["Unknown fragment 'Missing'."]


def test_a_document_validated_twice_against_one_schema_is_validated_once():
    schema = build_schema(SDL)
    document = parse("query Q { order(id: 1) { nme } }")
    first = validation_errors(schema, document)
    assert validation_errors(schema, document) is first
    other = build_schema(SDL.replace("name: String!", "nme: String!"))
    assert validation_errors(other, document) == []
