"""The checks a ``graphql`` step gets while the plan is built: its query read (inline or
from ``query_file``) and parsed, its variables against those the operation declares, its
Relay pagination against the query, and the query against a schema (an SDL file beside the
pipeline, or the server's own with ``check --online``). Each problem is located at its
YAML line and column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import beside
from ._graphql_document import Operation, relay_problem

if TYPE_CHECKING:
    from .._plan import Builder
    from .graphql import RelaySpec

QUERY_FILE_LIMIT = 1024 * 1024  # bytes of a query_file: a query, not a data set
DEFAULT_MAX_PAGES = 100


# Parsed SDL files, by file state: ``hookline check`` of many pipelines sharing one schema
# file parses it once per process, not once per pipeline.
_PARSED: dict[tuple[str, int, int], Any] = {}


def load_schema(builder: Builder, path: tuple[Any, ...]) -> Any:
    """The GraphQL schema of an SDL file beside the pipeline, or None (problem reported)."""
    from graphql import GraphQLError, build_schema

    file = beside(builder, str(builder.get(path)))
    key: tuple[str, int, int] | None = None
    try:
        st = os.stat(file)
        key = (os.path.abspath(file), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        pass  # reported by the read below, with its reason
    if key in _PARSED:
        return _PARSED[key]
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
        schema = build_schema(sdl)
    except (GraphQLError, TypeError) as exc:
        builder.error(
            path,
            f"the GraphQL schema file {builder.get(path)!r} is invalid: {str(exc).splitlines()[0]}",
        )
        return None
    if key is not None:
        _PARSED[key] = schema
    return schema


def schema_problems(schema: Any, document: Any) -> list[str]:
    """Why the query does not fit ``schema`` ("Cannot query field ...; did you mean ..."),
    each with its line and column in the query. graphql-core's ``validate`` is what gql's
    ``Client.validate`` calls; called directly it reports every problem, not the first."""
    from ._graphql_document import validation_errors

    out = []
    for error in validation_errors(schema, document):
        loc = error.locations[0] if error.locations else None
        where = f" (line {loc.line}, column {loc.column} of the query)" if loc else ""
        out.append(f"GraphQL: {error.message}{where}")
    return out


def query_text(raw: dict[str, Any], builder: Builder, path: tuple[Any, ...]) -> str | None:
    """The document: inline, or read from ``query_file`` beside the pipeline. Exactly one
    of the two is checked here, not in the schema, so that a missing query is reported as
    the missing key it is (the schema's one-of message cannot name a graphql step)."""
    if "query" in raw and "query_file" in raw:
        builder.error((*path, "query_file"), "give 'query' or 'query_file', not both",
                      at_key=True)  # fmt: skip
        return None
    if "query" not in raw and "query_file" not in raw:
        builder.error(path, f"{_dotted(path)}: missing required key 'query' (or 'query_file', "
                      "to read the query from a file)", at_key=True)  # fmt: skip
        return None
    if isinstance(raw.get("query"), str):
        return str(raw["query"])
    written = raw.get("query_file")
    if not isinstance(written, str):
        return None
    where = (*path, "query_file")
    file = Path(beside(builder, written))
    try:
        if file.exists() and not file.is_file():  # /dev/zero, a FIFO: reading never ends
            raise IsADirectoryError(0, "not a regular file")
        with file.open("rb") as stream:
            data = stream.read(QUERY_FILE_LIMIT + 1)  # never more than the limit in memory
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) else "not a valid file name"
        builder.error(where, f"cannot read the query file '{written}': {reason} (paths are "
                      "relative to the pipeline file)")  # fmt: skip
        return None
    if len(data) > QUERY_FILE_LIMIT:
        limit = f"{QUERY_FILE_LIMIT / 1024 / 1024:g} MiB"
        builder.error(where, f"the query file '{written}' is larger than {limit}, the most "
                      "a query file may hold")  # fmt: skip
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        builder.error(where, f"the query file '{written}' is not UTF-8 text")
        return None


def _dotted(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def report_syntax(
    builder: Builder, path: tuple[Any, ...], raw: dict[str, Any], found: tuple[str, int, int]
) -> None:
    message, line, col = found
    if "query" not in raw:
        builder.error((*path, "query_file"), f"{message} (line {line}, column {col} of "
                      f"{raw['query_file']})")  # fmt: skip
    elif "\n" in str(raw["query"]).rstrip("\n"):
        builder.error((*path, "query"), f"{message} (line {line}, column {col} of the query)")
    else:  # one line: point at the fault itself
        builder.error((*path, "query"), message, offset=max(col - 1, 0))


def check_variables(
    op: Operation, raw: dict[str, Any], builder: Builder, path: tuple[Any, ...], cursor: str | None
) -> None:
    """The variables the step passes against those the operation declares."""
    from .._plan import did_you_mean  # _plan imports the connectors: no cycle at import

    given = raw.get("variables")
    if "variables" in raw and not isinstance(given, dict):
        return  # the schema reports it
    given = given or {}
    declared = {v.name: v for v in op.variables}
    for name in given:
        if name not in declared:
            hint = did_you_mean(str(name), list(declared))
            listed = f" (it declares: {', '.join(declared)})" if declared else " (it declares none)"
            builder.error((*path, "variables", name), f"variable '{name}' is not declared by "
                          f"{op.label()}{hint or listed}", at_key=True)  # fmt: skip
    for var in op.variables:
        if var.required and var.name not in given and var.name != cursor:
            at = (*path, "variables") if "variables" in raw else path
            builder.error(at, f"{op.label()} needs variable '{var.name}' ({var.type}); "
                          "add it under 'variables'", at_key=True)  # fmt: skip


def relay_pagination(
    raw: Any, op: Operation | None, builder: Builder, path: tuple[Any, ...]
) -> RelaySpec | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("relay"), dict):
        return None
    from .._plan import did_you_mean

    conf = raw["relay"]
    dotted, cursor = conf.get("path"), conf.get("cursor_variable")
    if not isinstance(dotted, str) or not isinstance(cursor, str):
        return None
    parts = tuple(dotted.split("."))
    if not all(p.isidentifier() for p in parts):
        builder.error((*path, "relay", "path"), f"'{dotted}' is not a dotted path of field "
                      "names, e.g. 'products' or 'shop.orders'")  # fmt: skip
        return None
    if op is not None:
        declared = {v.name: v for v in op.variables}
        if cursor not in declared:
            hint = did_you_mean(cursor, list(declared))
            builder.error((*path, "relay", "cursor_variable"), f"{op.label()} declares no "
                          f"variable '{cursor}' to send the cursor in{hint}; declare it, "
                          f"e.g. (${cursor}: String)")  # fmt: skip
        elif declared[cursor].type.endswith("!"):
            builder.error((*path, "relay", "cursor_variable"), f"variable '{cursor}' is "
                          f"declared {declared[cursor].type}: the first page sends no cursor, "
                          "so declare it nullable (String)")  # fmt: skip
        problem = relay_problem(op, parts)
        if problem:
            builder.error((*path, "relay", "path"), problem)
    from .graphql import RelaySpec  # graphql imports this module: no cycle at import

    pages = raw.get("max_pages")
    pages = pages if isinstance(pages, int) and pages >= 1 else DEFAULT_MAX_PAGES
    return RelaySpec(parts, cursor, pages)
