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
from ._request import HttpRequest

if TYPE_CHECKING:
    from .._model import Step
    from .._runtime import Runtime
    from ._http import HttpClient
    from .rest import PaginateSpec, RestStepSpec

_LINK = re.compile(r'<([^>]*)>\s*;[^,]*?rel="?([^",;]+)"?', re.IGNORECASE)


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of a Link header."""
    for url, rel in _LINK.findall(header or ""):
        if "next" in rel.lower().split():
            return url
    return None


def _with_param(req: HttpRequest, name: str, value: Any) -> HttpRequest:
    params = [(k, v) for k, v in req.params if k != name]
    params.append((name, str(value)))
    return replace(req, params=params)


def _truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or value == [] or value == {})


def first_request(p: PaginateSpec, req: HttpRequest) -> HttpRequest:
    if p.style == "offset":
        req = _with_param(req, p.param or "offset", 0)
        if p.limit_param:
            req = _with_param(req, p.limit_param, p.limit)
    elif p.style == "page":
        req = _with_param(req, p.param or "page", p.start)
    return req


def fetch_all(
    client: HttpClient, step: Step, spec: RestStepSpec, req: HttpRequest, runtime: Runtime
) -> dict[str, Any]:
    p = spec.paginate
    assert p is not None
    req = first_request(p, req)
    seen_requests: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    seen_pages: dict[str, int] = {}
    items: list[Any] = []
    offset, page_number = 0, p.start
    pages = 0
    while True:
        key = (req.url, tuple(sorted(req.params)))
        if key in seen_requests:
            raise ConnectorError(
                step.id,
                f"pagination loops: page {pages + 1} asks for the same page as page "
                f"{seen_requests[key]} ({_describe(p, req)}); stopped instead of looping forever",
            )
        seen_requests[key] = pages + 1
        result = client.send(
            step.id, req, timeout=step.timeout, retry=step.retry, expect=spec.expect
        )
        pages += 1
        page_items = p.items.evaluate(result) if p.items else None
        if page_items is None:
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
    return {**result, "items": items, "pages": pages}


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
    if p.style == "cursor":
        assert p.next is not None and p.param
        cursor = p.next.evaluate(result)
        if cursor is None or cursor == "":
            return None
        value = cursor if isinstance(cursor, str) else json.dumps(cursor)
        return _with_param(req, p.param, value), offset, page_number
    if p.style == "offset":
        assert p.param and p.limit
        if len(page_items) < p.limit and p.has_more is None and p.total is None:
            return None  # a short page is the last one
        offset += p.limit
        return _with_param(req, p.param, offset), offset, page_number
    # page numbers
    assert p.param
    page_number += 1
    return _with_param(req, p.param, page_number), offset, page_number


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
    if p.style == "cursor":
        value = dict(req.params).get(p.param or "", "")
        return f"cursor {value!r}"
    query = "&".join(f"{k}={v}" for k, v in req.params)
    return req.url + (f"?{query}" if query else "")
