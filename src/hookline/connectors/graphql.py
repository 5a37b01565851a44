"""The GraphQL connector: schema fragments for ``graphql`` connections and steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._model import RetryPolicy
from .._schema_common import AUTH, HEADERS, RATE_LIMIT, RETRY, TIMEOUT
from .._schemabits import Schema, obj, prop
from ..expr import Template
from .rest import DEFAULT_TIMEOUT, VERIFY, parse_rate

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope

CONNECTION_SCHEMA: Schema = prop(
    obj(
        {
            "url": prop(
                {"type": "string", "minLength": 1},
                "The GraphQL endpoint.",
                "https://shop.example.com/graphql",
            ),
            "schema": prop(
                {"type": "string", "minLength": 1},
                "A local SDL file (relative to the pipeline file) to validate queries "
                "against before running.",
                "graphql/shop.graphql",
            ),
            "headers": HEADERS,
            "auth": AUTH,
            "timeout": TIMEOUT,
            "verify": VERIFY,
            "retry": RETRY,
            "rate_limit": RATE_LIMIT,
        },
        required=["url"],
    ),
    "A GraphQL API.",
    {"url": "https://shop.example.com/graphql", "auth": {"bearer": "${{ secrets.SHOP_TOKEN }}"}},
)

STEP_SCHEMA: Schema = prop(
    obj(
        {
            "connection": prop(
                {"type": "string", "minLength": 1},
                "Name of a `graphql` connection.",
                "shop",
            ),
            "query": prop(
                {"type": "string", "minLength": 1},
                "The query or mutation document.",
                "query Order($id: ID!) { order(id: $id) { id total } }",
            ),
            "variables": prop(
                {"type": "object"},
                "Variables by name; values may hold `${{ }}`.",
                {"id": "${{ input.order_id }}"},
            ),
            "operation_name": prop(
                {"type": "string", "minLength": 1},
                "Which operation of the document to run, when it holds several.",
                "Order",
            ),
        },
        required=["connection", "query"],
    ),
    "Run one GraphQL query or mutation. The result is the response's `data`.",
    {"connection": "shop", "query": "{ shop { name } }"},
)


@dataclass(frozen=True)
class GraphqlConnectionSpec:
    name: str
    url: Template
    schema: str | None
    headers: Template | None
    auth: Template | None
    timeout: float
    verify: bool | str
    retry: RetryPolicy | None
    rate_limit: tuple[float, float] | None


@dataclass(frozen=True)
class GraphqlStepSpec:
    connection: str | None
    query: str
    variables: Template | None
    operation_name: str | None


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> GraphqlConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    rate = raw.get("rate_limit")
    verify = raw.get("verify", True)
    return GraphqlConnectionSpec(
        name=str(path[1]),
        url=builder.template((*path, "url"), scope),
        schema=raw.get("schema"),
        headers=builder.maybe_template((*path, "headers"), scope),
        auth=builder.maybe_template((*path, "auth"), scope),
        timeout=builder.duration((*path, "timeout")) or DEFAULT_TIMEOUT,
        verify=verify if isinstance(verify, bool | str) else True,
        retry=builder.retry((*path, "retry")),
        rate_limit=parse_rate(rate) if isinstance(rate, str) and "/" in rate else None,
    )


def query_problem(query: str) -> tuple[str, int, int] | None:
    """Why ``query`` does not parse as GraphQL: (message, line, column) in the query."""
    from graphql import GraphQLSyntaxError, parse  # only for pipelines with graphql steps

    try:
        parse(query)
    except GraphQLSyntaxError as exc:
        loc = exc.locations[0] if exc.locations else None
        line, col = (loc.line, loc.column) if loc else (1, 1)
        reason = exc.message.removeprefix("Syntax Error: ").rstrip(".")
        reason = reason.replace("<EOF>", "the end of the query")
        return f"GraphQL syntax error: {reason}", line, col
    return None


def build(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> GraphqlStepSpec | None:
    if not isinstance(raw, dict):
        return None
    query = raw.get("query")
    if isinstance(query, str):
        found = query_problem(query)
        if found:
            message, line, col = found
            if "\n" in query.rstrip("\n"):
                builder.error(
                    (*path, "query"), f"{message} (line {line}, column {col} of the query)"
                )
            else:  # one line: point at the fault itself
                builder.error((*path, "query"), message, offset=max(col - 1, 0))
    name = raw.get("operation_name")
    return GraphqlStepSpec(
        connection=builder.connection_ref((*path, "connection"), "graphql"),
        query=str(query),
        variables=builder.maybe_template((*path, "variables"), scope),
        operation_name=name if isinstance(name, str) else None,
    )


def run(spec: GraphqlStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    raise StepFailed(step.id, "GraphQL steps do not run in this version of hookline yet")
