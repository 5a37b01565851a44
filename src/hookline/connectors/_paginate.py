"""Pagination for REST steps, with guards: a page or cursor seen twice is an error (never
an endless loop), and stopping at ``max_pages`` while the API has more is a warning."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from .._errors import ConnectorError
from ._origin import BadURL, origin_of
from ._request import HttpRequest, header_text
from .rest import check_body

if TYPE_CHECKING:
    from .._model import Step
    from .._runtime import Runtime
    from ..expr import Expression
    from ._http import HttpClient
    from ._paginate_spec import PaginateSpec, Place
    from .rest import RestStepSpec

DESCRIBE = 200  # characters of the repeated request (a cursor the API made) in the message
WARNING = 500  # characters of the "items found nothing" warning (it quotes the page's keys)
KEYS_SHOWN = 20  # keys of the page (and of its body) named in that warning
_LINK = re.compile(r'<([^>]*)>\s*;[^,]*?rel="?([^",;]+)"?', re.IGNORECASE)


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of a Link header."""
    for url, rel in _LINK.findall(header or ""):
        if "next" in rel.lower().split():
            return url
    return None


def _with_param(req: HttpRequest, name: str, value: Any) -> HttpRequest:
    params = [(k, v) for k, v in req.params if k != name]
    params.append((name, value if isinstance(value, str) else header_text(value)))
    return replace(req, params=params)


def _put(step: Step, req: HttpRequest, place: Place, value: Any) -> HttpRequest:
    """``req`` with ``value`` at ``place``; everything else in it is sent unchanged."""
    if place.kind == "param":
        return _with_param(req, place.name, value)
    if place.kind == "header":
        wanted = place.name.lower()
        headers = {k: v for k, v in req.headers.items() if k.lower() != wanted}
        headers[place.name] = header_text(value)
        return replace(req, headers=headers)
    return replace(req, json=_set_path(step, req.json if req.has_json else None, place, value))


def _set_path(step: Step, body: Any, place: Place, value: Any) -> Any:
    """A copy of ``body`` with ``value`` at the dotted path: the mappings on the way are
    copied (never changed: the step's rendered body is shared by every page), missing
    ones created."""
    if not isinstance(body, dict):
        raise ConnectorError(
            step.id,
            f"paginate cannot write the {place.describe()}: the request body is "
            f"{_kind(body)}, not a JSON object",
        )
    out = dict(body)
    node = out
    for depth, part in enumerate(place.path[:-1]):
        child = node.get(part, {})
        if not isinstance(child, dict):
            at = ".".join(place.path[: depth + 1])
            raise ConnectorError(
                step.id,
                f"paginate cannot write the {place.describe()}: {at} in the request body "
                f"is {_kind(child)}, not a JSON object",
            )
        copy = dict(child)
        node[part] = copy
        node = copy
    node[place.path[-1]] = value
    return out


def _get(req: HttpRequest, place: Place) -> Any:
    """The value at ``place`` in ``req`` (None when absent)."""
    if place.kind == "param":
        return dict(req.params).get(place.name)
    if place.kind == "header":
        wanted = place.name.lower()
        return next((v for k, v in req.headers.items() if k.lower() == wanted), None)
    node = req.json
    for part in place.path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or value == [] or value == {})


def _key(req: HttpRequest) -> str:
    """What makes two requests the same page: URL, parameters, headers and body."""
    body = req.json if req.has_json else req.form if req.form is not None else req.body
    return json.dumps(
        [
            req.url,
            sorted(req.params),
            sorted((k.lower(), v) for k, v in req.headers.items()),
            body,
        ],
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )


def first_request(step: Step, p: PaginateSpec, req: HttpRequest) -> HttpRequest:
    if p.style == "offset":
        assert p.into is not None
        req = _put(step, req, p.into, 0)
        if p.limit_into is not None:
            req = _put(step, req, p.limit_into, p.limit)
    elif p.style == "page":
        assert p.into is not None
        req = _put(step, req, p.into, p.start)
    return req


def fetch_all(
    client: HttpClient, step: Step, spec: RestStepSpec, req: HttpRequest, runtime: Runtime
) -> dict[str, Any]:
    p = spec.paginate
    assert p is not None
    req = first_request(step, p, req)
    seen_requests: dict[str, int] = {}
    seen_pages: dict[str, int] = {}
    items: list[Any] = []
    warning: str | None = None
    offset, page_number = 0, p.start
    pages = 0
    while True:
        key = _key(req)
        if key in seen_requests:
            raise ConnectorError(
                step.id,
                f"pagination loops: page {pages + 1} asks for the same page as page "
                f"{seen_requests[key]} ({runtime.redactor.clip(_describe(p, req), DESCRIBE)}); "
                "stopped instead of looping forever",
            )
        seen_requests[key] = pages + 1
        result = client.send(
            step.id, req, timeout=step.timeout, retry=step.retry, expect=spec.expect
        )
        pages += 1
        check_body(spec, result, step.id, runtime)
        page_items = p.items.evaluate(result) if p.items else None
        if page_items is None:
            if pages == 1 and p.items is not None:
                warning = found_nothing(step.id, p.items, result, runtime)
            page_items = []
        if not isinstance(page_items, list):
            raise ConnectorError(
                step.id,
                f"paginate.items must give a list, got {type(page_items).__name__} on page {pages}",
            )
        if page_items:
            digest = hashlib.sha256(
                json.dumps(page_items, sort_keys=True, default=str).encode()
            ).hexdigest()
            if digest in seen_pages:
                raise ConnectorError(
                    step.id,
                    f"pagination repeats itself: page {pages} holds the same records as page "
                    f"{seen_pages[digest]}; stopped instead of looping forever",
                )
            seen_pages[digest] = pages
        items.extend(page_items)
        runtime.page_fetched(step.id, pages, len(items))  # the progress line, on a terminal

        nxt = _next(p, req, result, page_items, offset, page_number, step, len(items))
        if nxt is None:
            break
        _check_origin(client, step, req.url, nxt[0].url, pages)
        req, offset, page_number = nxt
        if pages >= p.max_pages:
            runtime.log.warning(
                f"{step.id}: stopped at max_pages={p.max_pages} while the API has more pages; "
                f"{len(items)} records fetched, the rest were not",
                event="pagination_truncated",
                step=step.id,
            )
            break
    done = {**result, "items": items, "pages": pages}
    if warning is not None:
        done["warning"] = warning  # kept in the history with the step's result
    return done


def found_nothing(step_id: str, items: Expression, page: dict[str, Any], runtime: Runtime) -> str:
    """Warn, in the log, that ``items`` found nothing on the first page: a wrong path
    (``records`` for ``body.records``) would otherwise succeed with 0 records. Returns the
    warning's text, for the history."""
    keys = _keys(page)
    hint = ""
    body = page.get("body")
    if isinstance(body, dict):
        lists = [k for k, v in body.items() if isinstance(v, list)]
        keys += "; body has: " + _keys(body)
        if items.source.strip() in body and isinstance(body[items.source.strip()], list):
            hint = f"; did you mean 'body.{items.source.strip()}'?"
        elif len(lists) == 1:
            hint = f"; the list in body is 'body.{lists[0]}'"
    message = runtime.redactor.clip(
        f"{step_id}: paginate.items '{items.source.strip()}' found nothing on the first page, "
        f"so the step succeeds with 0 records (the page has: {keys}){hint}",
        WARNING,
    )
    runtime.log.warning(message, event="pagination_empty", step=step_id)
    return message


def _keys(value: dict[str, Any]) -> str:
    names = list(value)
    shown = ", ".join(str(k) for k in names[:KEYS_SHOWN])
    return shown + (f", ... ({len(names)} keys)" if len(names) > KEYS_SHOWN else "") or "no keys"


def _next(
    p: PaginateSpec,
    req: HttpRequest,
    result: dict[str, Any],
    page_items: list[Any],
    offset: int,
    page_number: int,
    step: Step,
    count: int,
) -> tuple[HttpRequest, int, int] | None:
    """The next request, or None when this was the last page."""
    if not page_items:
        return None
    if p.has_more is not None and not _truthy(p.has_more.evaluate(result)):
        return None
    if p.total is not None:
        total = p.total.evaluate(result)
        if isinstance(total, int | float) and count >= total:
            return None
    if p.style == "link_header":
        url = next_link(result["headers"].get("link"))
        if not url:
            return None
        return replace(req, url=urljoin(req.url, url), params=[]), offset, page_number
    if p.style == "next_url":
        assert p.next is not None
        url = p.next.evaluate(result)
        if not url:
            return None
        if not isinstance(url, str):
            raise ConnectorError(step.id, f"paginate.next_url must give a URL, got {url!r}")
        return replace(req, url=urljoin(req.url, url), params=[]), offset, page_number
    assert p.into is not None
    if p.style == "cursor":
        assert p.next is not None
        cursor = p.next.evaluate(result)
        if cursor is None or cursor == "":
            return None
        if p.into.kind != "body" and not isinstance(cursor, str):
            cursor = json.dumps(cursor)  # a body takes the value as the API gave it
        return _put(step, req, p.into, cursor), offset, page_number
    if p.style == "offset":
        assert p.limit
        if len(page_items) < p.limit and p.has_more is None and p.total is None:
            return None  # a short page is the last one
        offset += p.limit
        return _put(step, req, p.into, offset), offset, page_number
    # page numbers
    page_number += 1
    return _put(step, req, p.into, page_number), offset, page_number


def _check_origin(client: HttpClient, step: Step, current: str, url: str, page: int) -> None:
    """A next-page URL on another origin is refused unless the connection trusts it: the
    connection's credentials would go with it, to wherever the API (or an attacker who
    controls a field of its answer) points."""
    try:
        here, there = origin_of(current), origin_of(url)
    except BadURL as exc:
        raise ConnectorError(step.id, f"page {page} gives a next-page URL that is {exc}") from None
    if there != here and not client.trusts(there):
        raise ConnectorError(
            step.id,
            f"page {page} points the next page to another origin ({there}); refused, since "
            "the connection's credentials would go there. If that origin is the API's, "
            "list it in the connection's allow_origins",
        )


def _describe(p: PaginateSpec, req: HttpRequest) -> str:
    if p.style == "cursor" and p.into is not None:
        value = _get(req, p.into)
        return f"cursor {value if isinstance(value, str) else header_text(value)!r}"
    if p.into is not None and p.into.kind != "param":
        return f"{p.into.describe()} = {header_text(_get(req, p.into))}"
    query = "&".join(f"{k}={v}" for k, v in req.params)
    return req.url + (f"?{query}" if query else "")
