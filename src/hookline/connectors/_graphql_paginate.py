"""Relay pagination for GraphQL steps: the connection at a path in ``data``, its
``edges[].node`` collected into ``items``, ``pageInfo.endCursor`` sent back in a named
variable while ``pageInfo.hasNextPage`` holds. The guards are REST's: a cursor seen twice
is an error (never an endless loop), stopping at ``max_pages`` with pages left a warning,
and so is a first page whose edges hold no node (``found_no_node``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._errors import ConnectorError

if TYPE_CHECKING:
    from .._runtime import Runtime
    from ._graphql_transport import Call, GraphqlClient
    from .graphql import RelaySpec


def _connection(data: Any, relay: RelaySpec, step_id: str, page: int) -> dict[str, Any]:
    here = data
    for depth, part in enumerate(relay.path):
        if not isinstance(here, dict) or here.get(part) is None:
            where = ".".join(relay.path[: depth + 1])
            raise ConnectorError(
                step_id,
                f"page {page}: the response has no Relay connection at data.{where}",
            )
        here = here[part]
    if not isinstance(here, dict) or not isinstance(here.get("edges"), list):
        raise ConnectorError(
            step_id,
            f"page {page}: data.{'.'.join(relay.path)} is not a Relay connection (no edges list)",
        )
    return here


def fetch_all(
    client: GraphqlClient,
    call: Call,
    relay: RelaySpec,
    allow_partial: bool,
    runtime: Runtime,
) -> dict[str, Any]:
    from ._graphql_transport import errors_failure
    from .graphql import warn_partial

    items: list[Any] = []
    seen: dict[str, int] = {}  # cursor -> the page that gave it
    pages = 0
    data: Any = None
    warning: str | None = None
    while True:
        runtime.check_deadline()  # the step's timeout bounds every page together
        data, errors = client.execute(call)
        pages += 1
        if errors:
            if not allow_partial:
                raise errors_failure(call.step_id, errors, runtime)
            warn_partial(runtime, call.step_id, errors)
        conn = _connection(data, relay, call.step_id, pages)
        for edge in conn["edges"]:
            items.append(edge.get("node") if isinstance(edge, dict) else None)
        if pages == 1 and conn["edges"] and all(item is None for item in items):
            warning = found_no_node(call.step_id, relay, conn["edges"], runtime)
        runtime.page_fetched(call.step_id, pages, len(items))  # the progress line
        found = conn.get("pageInfo")
        info: dict[str, Any] = found if isinstance(found, dict) else {}
        if info.get("hasNextPage") is not True:
            break
        cursor = info.get("endCursor")
        if not isinstance(cursor, str) or not cursor:
            raise ConnectorError(
                call.step_id,
                f"page {pages} says hasNextPage but gives no endCursor to ask for the next",
            )
        if cursor in seen:
            raise ConnectorError(
                call.step_id,
                f"pagination loops: page {pages} gives the same cursor as page {seen[cursor]} "
                f"({runtime.redactor.clip(cursor, 80)!r}); stopped instead of looping forever",
            )
        seen[cursor] = pages
        if pages >= relay.max_pages:
            runtime.log.warning(
                f"{call.step_id}: stopped at max_pages={relay.max_pages} while the API has "
                f"more pages; {len(items)} records fetched, the rest were not",
                event="pagination_truncated",
                step=call.step_id,
            )
            break
        call = replace(call, variables={**call.variables, relay.cursor_variable: cursor})
    done = {"items": items, "pages": pages, "data": data}
    if warning is not None:
        done["warning"] = warning  # kept in the history with the step's result, as REST's
    return done


def found_no_node(step_id: str, relay: RelaySpec, edges: list[Any], runtime: Runtime) -> str:
    """Warn, as REST's ``found_nothing`` does, that the first page's edges hold no node: a
    query whose fragment selects ``edges { cursor }`` without ``node`` (the check at load
    trusts fragments) would otherwise succeed with a list of nulls. An empty ``edges``
    list is no mistake (nothing to sync), as an empty ``items`` list is none for REST.
    Returns the warning's text, for the history."""
    from ._paginate import WARNING, _keys

    first = next((edge for edge in edges if isinstance(edge, dict)), None)
    has = _keys(first) if first is not None else "no fields"
    count = len(edges)
    message = runtime.redactor.clip(
        f"{step_id}: paginate.relay.path '{'.'.join(relay.path)}' found nothing on the first "
        f"page: its {count} edge{'s hold' if count != 1 else ' holds'} no node, so the step's "
        f"items are {count} null{'s' if count != 1 else ''} (an edge has: {has}); select "
        "edges { node { ... } } in the query",
        WARNING,
    )
    runtime.log.warning(message, event="pagination_empty", step=step_id)
    return message
