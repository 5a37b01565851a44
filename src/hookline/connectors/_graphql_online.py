"""`hookline check --online`: a GraphQL connection without a local schema is checked
against the server's introspection result, fetched once per connection per check.

The fetch goes through the same HttpClient as a run (auth, origin binding, size cap,
deadline, retries), with gql asking for the schema (``fetch_schema_from_transport``).
The connection's templates see the pipeline's literal ``vars`` and the declared secrets
from the environment; a URL that needs more (``input``, a step, a secret that is not set)
is left to the run, where the same checks cannot be made: it is skipped, not an error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from .._errors import HooklineError
from ..expr import ExpressionError

if TYPE_CHECKING:
    from .._plan import Builder
    from .graphql import GraphqlConnectionSpec


def _context(builder: Builder) -> dict[str, Any]:
    raw_vars = builder.get(("vars",))
    literal = {
        k: v
        for k, v in (raw_vars.items() if isinstance(raw_vars, dict) else ())
        if not (isinstance(v, str) and "${{" in v)
    }
    secrets = {name: os.environ[name] for name in builder.secrets if os.environ.get(name)}
    return {"vars": literal, "secrets": secrets, "input": None, "state": {}, "run": {}}


def online_schema(builder: Builder, connection: str) -> Any:
    """The server's schema (graphql-core), or None when it cannot be had (reported once, at
    the connection's url)."""
    key = f"graphql-online:{connection}"
    if key in builder.loaded:
        return builder.loaded[key]
    builder.loaded[key] = None
    spec: GraphqlConnectionSpec | None = builder.loaded.get(f"graphql-spec:{connection}")
    if spec is None:
        return None
    where = ("connections", connection, "graphql", "url")
    from gql import Client
    from gql.transport.exceptions import TransportError
    from graphql import GraphQLError

    from .._runtime import Runtime
    from ._graphql_transport import HttpTransport
    from .graphql import http_client

    context = _context(builder)
    runtime = Runtime(cast(Any, None), context["secrets"])
    try:
        http = http_client(spec, runtime, context)
    except (HooklineError, ExpressionError):
        return None  # a template that needs what only a run has: checked when it runs
    url = http.url("")
    if not url.startswith(("http://", "https://")):
        http.close()
        return None  # built from input, a step or an unset secret: checked when it runs
    client = Client(transport=HttpTransport(http), fetch_schema_from_transport=True)
    try:
        client.connect_sync()
        client.close_sync()
    except HooklineError as exc:
        reason = getattr(exc, "reason", str(exc))
        builder.error(where, f"cannot fetch the GraphQL schema for --online checks: {reason}")
        return None
    except (TransportError, GraphQLError, TypeError, KeyError, ValueError) as exc:
        reason = runtime.redactor.clip(" ".join(str(exc).split()), 300)
        builder.error(where, f"the server's introspection result is not a schema: {reason}")
        return None
    finally:
        http.close()
    builder.loaded[key] = client.schema
    return client.schema
