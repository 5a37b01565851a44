"""The GraphQL connector: schema fragments for ``graphql`` connections and steps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from .._schema_common import CONNECTION_SETTINGS
from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._common import ConnectionSettings, beside, connection_settings

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
            **CONNECTION_SETTINGS,
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
    url: Template
    schema: str | None
    settings: ConnectionSettings


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
    if isinstance(raw.get("schema"), str):
        builder.loaded[f"graphql:{path[1]}"] = _load_schema(builder, (*path, "schema"))
    return GraphqlConnectionSpec(
        url=builder.template((*path, "url"), scope),
        schema=raw.get("schema"),
        settings=connection_settings(raw, builder, path, scope),
    )


def _load_schema(builder: Builder, path: tuple[Any, ...]) -> Any:
    """The GraphQL schema of an SDL file beside the pipeline, or None (problem reported)."""
    from graphql import GraphQLError, build_schema

    file = beside(builder, str(builder.get(path)))
    try:
        sdl = Path(file).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the name
        reason = (
            exc.strerror
            if isinstance(exc, OSError)
            else "it is not UTF-8 text"
            if isinstance(exc, UnicodeDecodeError)
            else "not a valid file name"
        )
        builder.error(path, f"cannot read the GraphQL schema file {builder.get(path)!r}: {reason}")
        return None
    try:
        return build_schema(sdl)
    except (GraphQLError, TypeError) as exc:
        builder.error(
            path,
            f"the GraphQL schema file {builder.get(path)!r} is invalid: {str(exc).splitlines()[0]}",
        )
        return None


def schema_problems(schema: Any, query: str) -> list[str]:
    """Why ``query`` does not fit ``schema`` ("Cannot query field ...; did you mean ..."),
    each with its line and column in the query."""
    from graphql import parse, validate

    out = []
    for error in validate(schema, parse(query)):
        loc = error.locations[0] if error.locations else None
        where = f" (line {loc.line}, column {loc.column} of the query)" if loc else ""
        out.append(f"GraphQL: {error.message}{where}")
    return out


@lru_cache(maxsize=256)  # the same query often stands in many steps and files
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
    connection = builder.connection_ref((*path, "connection"), "graphql")
    if isinstance(query, str):
        found = query_problem(query)
        schema = builder.loaded.get(f"graphql:{connection}")
        if found:
            message, line, col = found
            if "\n" in query.rstrip("\n"):
                builder.error(
                    (*path, "query"), f"{message} (line {line}, column {col} of the query)"
                )
            else:  # one line: point at the fault itself
                builder.error((*path, "query"), message, offset=max(col - 1, 0))
        elif schema is not None:
            for message in schema_problems(schema, query):
                builder.error((*path, "query"), message)
    name = raw.get("operation_name")
    return GraphqlStepSpec(
        connection=connection,
        query=str(query),
        variables=builder.maybe_template((*path, "variables"), scope),
        operation_name=name if isinstance(name, str) else None,
    )


HANDLES_RETRY = True  # the connector applies the retry policy itself


def run(spec: GraphqlStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    raise StepFailed(step.id, "GraphQL steps do not run in this version of hookline yet")
