"""The GraphQL connector: ``graphql`` connections and steps, their schema fragments, the
checks made before anything runs (syntax, operation, variables, Relay path, schema), and
the run, which goes through gql over the connection's HttpClient (``_graphql_transport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .._errors import StepFailed
from .._schema_common import CONNECTION_SETTINGS
from .._schemabits import Schema, obj, prop
from ..expr import Template
from ._common import ConnectionSettings, connection_settings
from ._expect import ResponseSchema, data_expect
from ._expect import build as build_expect
from ._graphql_build import (
    check_variables,
    load_schema,
    query_text,
    relay_pagination,
    report_syntax,
    schema_problems,
)
from ._graphql_document import choose_operation, operations, parse_document

if TYPE_CHECKING:
    from .._engine import Runtime
    from .._model import Step
    from .._plan import Builder, Scope
    from ._graphql_transport import GraphqlClient
    from ._http import HttpClient


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

_RELAY: Schema = prop(
    obj(
        {
            "path": prop(
                {"type": "string", "minLength": 1},
                "Dotted path in `data` to the Relay connection (field names or aliases): "
                "it has `edges { node }` and `pageInfo { hasNextPage endCursor }`.",
                "products",
                "shop.orders",
            ),
            "cursor_variable": prop(
                {"type": "string", "minLength": 1},
                "The query variable each next page's cursor (`pageInfo.endCursor`) is sent "
                "in; the first page sends the value given in `variables`, or none.",
                "after",
            ),
        },
        required=["path", "cursor_variable"],
    ),
    "Relay cursor pagination.",
    {"path": "products", "cursor_variable": "after"},
)

STEP_SCHEMA: Schema = prop(
    {
        **obj(
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
                "query_file": prop(
                    {"type": "string", "minLength": 1},
                    "A file holding the query or mutation (relative to the pipeline file), "
                    "instead of `query`.",
                    "graphql/products.graphql",
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
                "allow_partial": prop(
                    {"type": "boolean"},
                    "Accept `data` that comes with `errors` (default false: any error fails "
                    "the step); the errors are logged as a warning and kept in the history.",
                    True,
                ),
                "expect": data_expect("response's `data` (every page's, with `paginate`)"),
                "paginate": prop(
                    obj(
                        {
                            "relay": _RELAY,
                            "max_pages": prop(
                                {"type": "integer", "minimum": 1},
                                "Stop after this many pages (default 100); stopping while "
                                "more pages exist is a warning in the log.",
                                50,
                            ),
                        },
                        required=["relay"],
                    ),
                    "Fetch every page of a Relay connection. The result is {items, pages, "
                    "data}: every page's nodes, the number of pages, the last page's data.",
                    {"relay": {"path": "products", "cursor_variable": "after"}, "max_pages": 50},
                ),
            },
            required=["connection"],
        ),
    },
    "Run one GraphQL query or mutation (give `query` or `query_file`). The result is "
    "the response's `data`.",
    {"connection": "shop", "query": "{ shop { name } }"},
)


@dataclass(frozen=True)
class GraphqlConnectionSpec:
    url: Template
    schema: str | None
    settings: ConnectionSettings


@dataclass(frozen=True)
class RelaySpec:
    path: tuple[str, ...]
    cursor_variable: str
    max_pages: int


@dataclass(frozen=True)
class GraphqlStepSpec:
    connection: str | None
    query: str  # the document's text (read from query_file when given)
    variables: Template | None
    operation_name: str | None
    document: Any = None  # parsed at load; None when it did not parse
    kind: str = "query"  # of the operation the step runs: query | mutation
    allow_partial: bool = False
    paginate: RelaySpec | None = None
    schema: ResponseSchema | None = None  # expect.schema, for every page's data


def build_connection(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> GraphqlConnectionSpec | None:
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("schema"), str):
        builder.loaded[f"graphql:{path[1]}"] = load_schema(builder, (*path, "schema"))
    spec = GraphqlConnectionSpec(
        url=builder.template((*path, "url"), scope),
        schema=raw.get("schema"),
        settings=connection_settings(raw, builder, path, scope),
    )
    builder.loaded[f"graphql-spec:{path[1]}"] = spec  # for check --online
    return spec


def build(
    raw: Any, builder: Builder, path: tuple[Any, ...], scope: Scope
) -> GraphqlStepSpec | None:
    if not isinstance(raw, dict):
        return None
    connection = builder.connection_ref((*path, "connection"), "graphql")
    text = query_text(raw, builder, path)
    document, op = None, None
    if text is not None:
        document, found = parse_document(text)
        if found:
            report_syntax(builder, path, raw, found)
    if document is not None:
        wanted = raw.get("operation_name")
        chosen = choose_operation(operations(document), wanted if isinstance(wanted, str) else None)
        if isinstance(chosen, str):
            at = (
                "operation_name"
                if "operation_name" in raw
                else next(k for k in ("query", "query_file") if k in raw)
            )
            builder.error((*path, at), chosen)
        elif chosen.kind == "subscription":
            builder.error((*path, "query" if "query" in raw else "query_file"),
                          "a subscription cannot run as a step: use a query")  # fmt: skip
        else:
            op = chosen
        schema = builder.loaded.get(f"graphql:{connection}")
        conn = builder.loaded.get(f"graphql-spec:{connection}")
        if builder.online and connection and conn is not None and conn.schema is None:
            from ._graphql_online import online_schema

            schema = online_schema(builder, connection)
        if schema is not None:
            for message in schema_problems(schema, document):
                builder.error((*path, "query" if "query" in raw else "query_file"), message)
    pages = relay_pagination(raw.get("paginate"), op, builder, (*path, "paginate"))
    if op is not None:
        check_variables(op, raw, builder, path, pages.cursor_variable if pages else None)
    return GraphqlStepSpec(
        connection=connection,
        query=text or "",
        variables=builder.maybe_template((*path, "variables"), scope),
        operation_name=op.name if op is not None else None,
        document=document,
        kind=op.kind if op is not None else "query",
        allow_partial=raw.get("allow_partial") is True,
        paginate=pages,
        schema=_expect_schema(raw.get("expect"), builder, path),
    )


def _expect_schema(raw: Any, builder: Builder, path: tuple[Any, ...]) -> ResponseSchema | None:
    if not isinstance(raw, dict) or "schema" not in raw:
        return None
    return build_expect(raw["schema"], builder, (*path, "expect", "schema"), "data")


# --- running ----------------------------------------------------------------------

HANDLES_RETRY = True  # the HTTP client applies the retry policy itself


def http_client(
    spec: GraphqlConnectionSpec, runtime: Runtime, context: dict[str, Any]
) -> HttpClient:
    """The connection's HttpClient, its templates rendered in ``context``."""
    from ._http import connection_client  # requests: by GraphQL runs and online checks

    return connection_client(spec.settings, runtime, str(spec.url.render(context)), context)


def open_client(spec: GraphqlConnectionSpec, runtime: Runtime) -> GraphqlClient:
    """The connection's client for this run: its HttpClient and a gql session over it."""
    from ._graphql_transport import GraphqlClient  # gql is imported by GraphQL runs only

    return GraphqlClient(http_client(spec, runtime, runtime.connection_context))


def run(spec: GraphqlStepSpec, step: Step, context: dict[str, Any], runtime: Runtime) -> Any:
    from ._graphql_transport import ACCEPT, Call, errors_failure

    assert spec.connection is not None and spec.document is not None  # else load failed
    conn_spec = runtime.pipeline.connections[spec.connection].spec
    client: GraphqlClient = runtime.client(spec.connection, lambda: open_client(conn_spec, runtime))
    variables = spec.variables.render(context) if spec.variables is not None else {}
    if not isinstance(variables, dict):
        raise StepFailed(step.id, f"variables must give an object, got {type(variables).__name__}")
    if runtime.dry_run:
        body: dict[str, Any] = {"query": spec.query}  # as the transport sends it
        if variables:
            body["variables"] = variables
        if spec.operation_name:
            body["operationName"] = spec.operation_name
        runtime.dry_request(step.id, {
            "method": "POST",
            "url": client.http.url(""),
            "params": [],
            "headers": {**client.http.headers, "Accept": ACCEPT},
            "body": body,
            "paginate": "relay" if spec.paginate else None,
        })  # fmt: skip
        return None
    call = Call(
        step_id=step.id,
        text=spec.query,
        document=spec.document,
        variables=variables,
        operation_name=spec.operation_name,
        is_query=spec.kind == "query",
        timeout=step.timeout,
        retry=step.retry,
    )
    if spec.paginate is not None:
        from ._graphql_paginate import fetch_all

        if spec.schema is not None:  # every page's data is checked as it arrives
            client = cast("GraphqlClient", _Checked(client, spec, runtime))
        return fetch_all(client, call, spec.paginate, spec.allow_partial, runtime)
    data, errors = client.execute(call)
    if errors:
        if not spec.allow_partial:
            raise errors_failure(step.id, errors, runtime)
        warn_partial(runtime, step.id, errors)
    if spec.schema is not None:
        spec.schema.check(data, step.id, runtime)
    return data


class _Checked:
    """A GraphqlClient whose answers' ``data`` is checked against ``expect.schema``, so
    that Relay pagination checks every page. An answer with errors the step does not
    accept is left to fail with those errors, which say more."""

    def __init__(self, client: GraphqlClient, spec: GraphqlStepSpec, runtime: Runtime) -> None:
        self._client, self._spec, self._runtime = client, spec, runtime

    def execute(self, call: Any) -> tuple[Any, list[dict[str, Any]]]:
        data, errors = self._client.execute(call)
        if self._spec.schema is not None and (not errors or self._spec.allow_partial):
            self._spec.schema.check(data, call.step_id, self._runtime)
        return data, errors


def warn_partial(runtime: Runtime, step_id: str, errors: list[dict[str, Any]]) -> None:
    from ._graphql_transport import describe

    count = len(errors)
    runtime.log.warning(
        f"{step_id}: partial data kept (allow_partial); the GraphQL server answered "
        f"{count} error{'s' if count != 1 else ''}: {describe(errors, runtime)}",
        event="graphql_partial",
        step=step_id,
        errors=errors,
    )
