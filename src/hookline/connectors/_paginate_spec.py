"""REST ``paginate``: its schema fragment, its compiled form and the checks made at load.

A cursor, offset or page number goes where the API wants it: a query parameter
(``param``), a dotted path in the step's JSON body (``body_path``) or a header
(``header``), exactly one of them. The running side is ``_paginate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .._frozen import Frozen
from .._schemabits import EXPRESSION, Schema, exactly_one, obj, prop
from ..expr import Expression

if TYPE_CHECKING:
    from .._plan import Builder

STYLES = ("link_header", "next_url", "cursor", "offset", "page")
PLACES = ("param", "body_path", "header")
LIMIT_PLACES = ("limit_param", "limit_body_path", "limit_header")
DEFAULT_MAX_PAGES = 100
# RFC 9110 token: what a header name may hold (a set, not a regex compiled at import).
_TOKEN_CHARS = frozenset(
    "!#$%&'*+.^_`|~-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

_TEXT: Schema = {"type": "string", "minLength": 1}


def _places(what: str, param: str, body_path: str, header: str, prefix: str = "") -> Schema:
    return {
        f"{prefix}param": prop(_TEXT, f"Query parameter the {what} is sent in.", param),
        f"{prefix}body_path": prop(
            _TEXT,
            f"Dotted path in the step's `json` body (a mapping) where the {what} is written; "
            "the rest of the body is sent unchanged on every page.",
            body_path,
        ),
        f"{prefix}header": prop(_TEXT, f"Header the {what} is sent in.", header),
    }


def _at_most_one(keys: tuple[str, ...]) -> Schema:
    return {
        "not": {"anyOf": [{"required": [a, b]} for i, a in enumerate(keys) for b in keys[i + 1 :]]}
    }


SCHEMA: Schema = prop(
    {
        **obj(
            {
                "link_header": prop(
                    {"const": True},
                    'Follow the `rel="next"` URL of the Link response header.',
                    True,
                ),
                "next_url": prop(
                    EXPRESSION,
                    "Expression on the response giving the next page's URL (null: done).",
                    "body.links.next",
                ),
                "cursor": prop(
                    {
                        **obj(
                            {
                                "next": prop(
                                    EXPRESSION,
                                    "Expression on the response giving the next cursor (null "
                                    "or empty: done).",
                                    "body.meta.next_cursor",
                                ),
                                **_places("cursor", "cursor", "page.after", "X-Cursor"),
                            },
                            required=["next"],
                        ),
                    },
                    "Cursor pagination: `next`, and where the cursor goes: exactly one of "
                    "`param`, `body_path`, `header`. The first page sends no cursor.",
                    {"next": "body.offset", "param": "offset"},
                    {"next": "body.page_info.end_cursor", "body_path": "page.after"},
                    {"next": 'headers."x-next-cursor"', "header": "X-Cursor"},
                ),
                "offset": prop(
                    {
                        **obj(
                            {
                                **_places("offset", "offset", "page.offset", "X-Offset"),
                                **_places(
                                    "page size", "limit", "page.limit", "X-Limit", prefix="limit_"
                                ),
                                "limit": prop({"type": "integer", "minimum": 1}, "Page size.", 100),
                            },
                            required=["limit"],
                        ),
                        **_at_most_one(LIMIT_PLACES),
                    },
                    "Offset/limit pagination, from offset 0: where the offset goes (exactly one "
                    "of `param`, `body_path`, `header`), `limit`, and optionally where the page "
                    "size goes (`limit_param`, `limit_body_path` or `limit_header`).",
                    {"param": "offset", "limit_param": "limit", "limit": 100},
                    {"body_path": "paging.offset", "limit_body_path": "paging.size", "limit": 50},
                ),
                "page": prop(
                    {
                        **obj(
                            {
                                **_places("page number", "page", "paging.page", "X-Page"),
                                "start": prop(
                                    {"type": "integer", "minimum": 0},
                                    "Number of the first page (default 1).",
                                    1,
                                ),
                            }
                        ),
                    },
                    "Page-number pagination: where the number goes (exactly one of `param`, "
                    "`body_path`, `header`) and the first page's number.",
                    {"param": "page", "start": 1},
                    {"body_path": "paging.page"},
                ),
                "items": prop(
                    EXPRESSION,
                    "Expression on each response giving that page's records; the step "
                    "result's `items` holds the records of every page.",
                    "body.records",
                ),
                "has_more": prop(
                    EXPRESSION,
                    "Expression on the response: false or null means this was the last page.",
                    "body.has_more",
                ),
                "total": prop(
                    EXPRESSION,
                    "Expression on the response giving the total number of records.",
                    "body.total",
                ),
                "max_pages": prop(
                    {"type": "integer", "minimum": 1},
                    f"Stop after this many pages (default {DEFAULT_MAX_PAGES}); stopping early "
                    "while more pages exist is a warning in the log.",
                    50,
                ),
            },
            required=["items"],
        ),
        **exactly_one(list(STYLES)),
    },
    "Fetch every page: exactly one of link_header, next_url, cursor, offset, page.",
    {"cursor": {"next": "body.offset", "param": "offset"}, "items": "body.records"},
    {"cursor": {"next": "body.next", "body_path": "page.after"}, "items": "body.data"},
)


class Place(Frozen):
    """Where a cursor, offset, page number or page size is sent."""

    __slots__ = _fields = ("kind", "name", "path")
    kind: Literal["param", "body", "header"]
    name: str  # the parameter or header name, or the body path as written
    path: tuple[str, ...]  # the body path, split at its dots

    def __init__(
        self, kind: Literal["param", "body", "header"], name: str, path: tuple[str, ...] = ()
    ) -> None:
        self._fill(locals())

    def describe(self) -> str:
        words = {"param": "query parameter", "body": "body path", "header": "header"}
        return f"{words[self.kind]} {self.name}"


class PaginateSpec(Frozen):
    __slots__ = _fields = (
        "style",
        "next",
        "into",
        "limit_into",
        "limit",
        "start",
        "items",
        "has_more",
        "total",
        "max_pages",
    )
    style: str  # link_header | next_url | cursor | offset | page
    next: Expression | None  # next_url or cursor.next
    into: Place | None  # where the cursor / offset / page number goes
    limit_into: Place | None  # where the page size goes (offset only)
    limit: int | None
    start: int
    items: Expression | None
    has_more: Expression | None
    total: Expression | None
    max_pages: int

    def __init__(
        self,
        style: str,
        next: Expression | None,
        into: Place | None,
        limit_into: Place | None,
        limit: int | None,
        start: int,
        items: Expression | None,
        has_more: Expression | None,
        total: Expression | None,
        max_pages: int,
    ) -> None:
        self._fill(locals())


def build(
    raw: Any, step: dict[str, Any], builder: Builder, path: tuple[Any, ...]
) -> PaginateSpec | None:
    """The compiled ``paginate`` of a rest step (``step``: the step's raw mapping)."""
    if not isinstance(raw, dict):
        return None
    styles = [s for s in STYLES if s in raw]
    if len(styles) != 1:
        return None
    style = styles[0]
    conf = raw[style] if isinstance(raw[style], dict) else {}
    nxt = None
    if style == "next_url":
        nxt = builder.expression((*path, "next_url"), None)
    elif style == "cursor":
        nxt = builder.expression((*path, "cursor", "next"), None)

    def opt(key: str) -> Expression | None:
        return builder.expression((*path, key), None) if key in raw else None

    where = (*path, style)
    if style in ("cursor", "offset", "page") and isinstance(raw[style], dict):
        _one_place(conf, builder, where)
    return PaginateSpec(
        style=style,
        next=nxt,
        into=_place(conf, "", step, builder, where),
        limit_into=_place(conf, "limit_", step, builder, where),
        limit=conf.get("limit"),
        start=int(conf.get("start", 1)),
        items=opt("items"),
        has_more=opt("has_more"),
        total=opt("total"),
        max_pages=int(raw.get("max_pages", DEFAULT_MAX_PAGES)),
    )


def _one_place(conf: dict[str, Any], builder: Builder, path: tuple[Any, ...]) -> None:
    """Exactly one of param, body_path, header. Checked here rather than by the schema, so
    that the message names the mode plainly."""
    given = [k for k in PLACES if k in conf]
    name = f"paginate.{path[-1]}"
    if not given:
        builder.error(path, f"{name} needs one of: {', '.join(PLACES)}", at_key=True)
    elif len(given) > 1:
        builder.error(
            (*path, given[1]),
            f"{name} needs only one of: {', '.join(PLACES)}; this one has " + " and ".join(given),
            at_key=True,
        )


def _place(
    conf: dict[str, Any], prefix: str, step: dict[str, Any], builder: Builder, path: tuple[Any, ...]
) -> Place | None:
    given = [k for k in PLACES if isinstance(conf.get(prefix + k), str) and conf[prefix + k]]
    if len(given) != 1:
        return None  # none, or several: the schema says so
    key = prefix + given[0]
    name: str = conf[key]
    if given[0] == "param":
        return Place("param", name)
    if given[0] == "header":
        if not name or not set(name) <= _TOKEN_CHARS:
            builder.error((*path, key), f"'{name}' is not a valid header name")
        return Place("header", name)
    parts = tuple(name.split("."))
    if not all(parts):
        builder.error(
            (*path, key),
            f"'{name}' is not a body path: write key names joined by dots, such as page.after",
        )
        return Place("body", name, parts)
    problem = _body_problem(step, parts)
    if problem:
        builder.error((*path, key), f"{key} '{name}' {problem}")
    return Place("body", name, parts)


def _body_problem(step: dict[str, Any], parts: tuple[str, ...]) -> str | None:
    """Why the step's body cannot take a value at ``parts``; None when it can (or when only
    the run can tell: a body that is a ``${{ }}`` template)."""
    if "json" not in step:
        other = next((k for k in ("form", "body") if k in step), None)
        if other:
            return f"needs a JSON body, and this step sends '{other}': use 'json' (a mapping)"
        return "needs a JSON body: give the step 'json' (a mapping, {} for an empty one)"
    node = step["json"]
    for depth, part in enumerate(parts):
        if isinstance(node, str) and "${{" in node:
            return None  # rendered at run time: checked then
        if not isinstance(node, dict):
            at = "the body" if depth == 0 else "json." + ".".join(parts[:depth])
            return f"needs {at} to be a mapping, and it is {_kind(node)}"
        if part not in node:
            return None  # created when the first page is sent
        node = node[part]
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
