"""Routes of the test REST server that serve data: pagination styles and an Airtable-like API.

Pagination runs over a fixed dataset of 95 contacts (``CONTACTS``); pages are 1-based and
10 records long unless ``per_page`` says otherwise. Next-page URLs are absolute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .rest_app import RecordedRequest, Response, RestServer, json_response
from .rest_routes import BadRequest, bearer_of, int_param, not_found, param

TOTAL = 95
CONTACTS: tuple[dict[str, Any], ...] = tuple(
    {"id": i, "name": f"Contact {i}", "email": f"contact{i}@example.com"}
    for i in range(1, TOTAL + 1)
)
PER_PAGE = 10
MAX_PER_PAGE = 100


def _url(app: RestServer, style: str, **query: int | str) -> str:
    return f"{app.url}/pages/{style}?{urlencode(query)}"


def _page(req: RecordedRequest) -> tuple[int, int, list[dict[str, Any]], bool]:
    """(page, per_page, records, has_more) from ``page``/``per_page``."""
    page = int_param(req, "page", 1, minimum=1)
    per_page = int_param(req, "per_page", PER_PAGE, 1, MAX_PER_PAGE)
    start = (page - 1) * per_page
    records = list(CONTACTS[start : start + per_page])
    return page, per_page, records, start + per_page < TOTAL


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"contacts:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, offset = text.partition(":")
        if prefix == "contacts" and offset.isdigit() and int(offset) <= TOTAL:
            return int(offset)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise BadRequest(f"invalid cursor {cursor!r}")


def _cursor_page(req: RecordedRequest, size: int) -> Response:
    cursor = param(req, "cursor")
    offset = decode_cursor(cursor) if cursor else 0
    end = offset + size
    next_cursor = encode_cursor(end) if end < TOTAL else None
    return json_response(200, {"records": list(CONTACTS[offset:end]), "next_cursor": next_cursor})


def crm_contacts(app: RestServer, req: RecordedRequest) -> Response:
    """``GET /crm/contacts?limit=L&cursor=C``: the example CRM, cursor pages of CONTACTS
    behind ``Authorization: Bearer <bearer_token>`` (pipelines/contacts-to-airtable.yaml)."""
    if req.method != "GET":
        return json_response(405, {"error": "method not allowed"})
    if bearer_of(req) != app.bearer_token:
        return json_response(401, {"error": "unauthorized"})
    return _cursor_page(req, int_param(req, "limit", PER_PAGE, 1, MAX_PER_PAGE))


# The cycle: no cursor -> next "A"; "A" -> next "B"; "B" -> next "A"; each has its own page.
_CYCLE: dict[str | None, tuple[str, int]] = {None: ("A", 0), "A": ("B", 10), "B": ("A", 20)}


def pages(app: RestServer, req: RecordedRequest, style: str) -> Response:
    if style == "link":
        page, per_page, records, more = _page(req)
        headers = []
        if more:
            next_url = _url(app, "link", page=page + 1, per_page=per_page)
            headers.append(("Link", f'<{next_url}>; rel="next"'))
        return json_response(200, records, headers)
    if style == "next":
        page, per_page, records, more = _page(req)
        following = _url(app, "next", page=page + 1, per_page=per_page) if more else None
        return json_response(200, {"records": records, "next": following})
    if style == "cursor":
        return _cursor_page(req, int_param(req, "per_page", PER_PAGE, 1, MAX_PER_PAGE))
    if style == "cursor-cycle":
        at = param(req, "cursor") or None
        if at not in _CYCLE:
            raise BadRequest(f"invalid cursor {at!r}")
        next_cursor, offset = _CYCLE[at]
        records = list(CONTACTS[offset : offset + PER_PAGE])
        return json_response(200, {"records": records, "next_cursor": next_cursor})
    if style == "offset":
        offset = int_param(req, "offset", 0)
        limit = int_param(req, "limit", PER_PAGE, 1, MAX_PER_PAGE)
        records = list(CONTACTS[offset : offset + limit])
        return json_response(200, {"records": records, "total": TOTAL})
    if style == "page":
        _, _, records, more = _page(req)
        return json_response(200, {"records": records, "has_more": more})
    if style == "repeat":  # a server bug: page 1 again and again, always "next: ?page=2"
        int_param(req, "page", 1, minimum=1)
        records = list(CONTACTS[:PER_PAGE])
        return json_response(200, {"records": records, "next": _url(app, "repeat", page=2)})
    if style == "empty-tail":  # runs dry but never stops offering a next page
        page = int_param(req, "page", 1, minimum=1)
        records = list(CONTACTS[(page - 1) * PER_PAGE : page * PER_PAGE])
        return json_response(
            200, {"records": records, "next": _url(app, "empty-tail", page=page + 1)}
        )
    if style in BODY_STYLES:
        return BODY_STYLES[style](req)
    return not_found()


# -- pagination by body and header ----------------------------------------------------------


def _search_body(req: RecordedRequest) -> dict[str, Any]:
    """The JSON body of a ``POST /pages/body-*`` search: it must carry its filter on every
    page (``{"filter": {"kind": "contact"}, ...}``), as a search API would."""
    if req.method != "POST":
        raise BadRequest("use POST")
    data = req.json
    if not isinstance(data, dict) or data.get("filter") != {"kind": "contact"}:
        raise BadRequest("the body must hold filter: {kind: contact}")
    return data


def _body_cursor(req: RecordedRequest) -> Response:
    """``POST /pages/body-cursor`` with ``{"filter": ..., "page": {"after": C, "size": N}}``:
    the cursor and the page size in the body, the next cursor in ``page_info.end_cursor``."""
    page = _search_body(req).get("page") or {}
    if not isinstance(page, dict):
        raise BadRequest("page must be an object")
    cursor = page.get("after")
    size = page.get("size", PER_PAGE)
    if not isinstance(size, int) or not 1 <= size <= MAX_PER_PAGE:
        raise BadRequest(f"invalid size {size!r}")
    offset = decode_cursor(cursor) if isinstance(cursor, str) else 0
    end = offset + size
    info = {"end_cursor": encode_cursor(end) if end < TOTAL else None}
    return json_response(200, {"data": list(CONTACTS[offset:end]), "page_info": info})


def _body_offset(req: RecordedRequest) -> Response:
    """``POST /pages/body-offset`` with ``{"filter": ..., "paging": {"offset": O, "size": L}}``
    (numbers, not strings)."""
    paging = _search_body(req).get("paging")
    if not isinstance(paging, dict):
        raise BadRequest("paging must be an object")
    offset, size = paging.get("offset"), paging.get("size")
    if not isinstance(offset, int) or not isinstance(size, int) or size < 1:
        raise BadRequest(f"invalid paging {paging!r}")
    return json_response(200, {"data": list(CONTACTS[offset : offset + size]), "total": TOTAL})


def _body_cycle(req: RecordedRequest) -> Response:
    """``POST /pages/body-cycle``: the cursor cycle of ``cursor-cycle``, in the body."""
    at = (_search_body(req).get("page") or {}).get("after")
    if at not in _CYCLE:
        raise BadRequest(f"invalid cursor {at!r}")
    next_cursor, offset = _CYCLE[at]
    records = list(CONTACTS[offset : offset + PER_PAGE])
    return json_response(200, {"data": records, "page_info": {"end_cursor": next_cursor}})


def _header_cursor(req: RecordedRequest) -> Response:
    """``GET /pages/header-cursor``: the cursor in the ``X-Cursor`` request header, the next
    one in the ``X-Next-Cursor`` response header (none on the last page)."""
    cursor = req.header("X-Cursor")
    offset = decode_cursor(cursor) if cursor else 0
    end = offset + PER_PAGE
    headers = [("X-Next-Cursor", encode_cursor(end))] if end < TOTAL else []
    return json_response(200, list(CONTACTS[offset:end]), headers)


BODY_STYLES = {
    "body-cursor": _body_cursor,
    "body-offset": _body_offset,
    "body-cycle": _body_cycle,
    "header-cursor": _header_cursor,
}


# -- Airtable --------------------------------------------------------------------------------


def _airtable_error(status: int, kind: str, message: str) -> Response:
    return json_response(status, {"error": {"type": kind, "message": message}})


def _rate_limited(app: RestServer, base: str) -> bool:
    """Count this request against the base's rolling window; True when over the limit."""
    now = time.monotonic()
    with app.lock:
        recent = [t for t in app.airtable_calls.get(base, []) if now - t < app.airtable_window]
        if len(recent) >= app.airtable_rate:
            app.airtable_calls[base] = recent
            app.rate_limited += 1
            return True
        recent.append(now)
        app.airtable_calls[base] = recent
        return False


def _new_record(app: RestServer, table: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Store one record (the caller holds the lock)."""
    app.records_created += 1
    digest = hashlib.sha256(f"{table}:{app.records_created}".encode()).hexdigest()
    now = datetime.now(UTC)
    record = {
        "id": "rec" + digest[:14],
        "createdTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "fields": fields,
    }
    app.tables.setdefault(table, []).append(record)
    return record


def airtable(app: RestServer, req: RecordedRequest, base: str, table: str) -> Response:
    if req.method not in ("GET", "POST"):
        return not_found()
    if _rate_limited(app, base):
        body = {"errors": [{"error": "RATE_LIMIT_REACHED"}]}
        return json_response(429, body, [("Retry-After", "1")])
    if bearer_of(req) != app.airtable_token:
        return _airtable_error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
    if req.method == "GET":
        return _list_records(app, req, table)
    data = req.json
    if isinstance(data, dict) and "records" in data:
        items = data["records"]
        if not isinstance(items, list) or not 1 <= len(items) <= 10:
            count = len(items) if isinstance(items, list) else "no"
            return _airtable_error(422, "INVALID_RECORDS", f"expected 1 to 10 records, got {count}")
        if not all(isinstance(i, dict) and isinstance(i.get("fields"), dict) for i in items):
            return _airtable_error(422, "INVALID_RECORDS", "every record needs a fields object")
        with app.lock:
            created = [_new_record(app, table, dict(i["fields"])) for i in items]
        return json_response(200, {"records": created})
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        with app.lock:
            record = _new_record(app, table, dict(data["fields"]))
        return json_response(200, record)
    return _airtable_error(
        422, "INVALID_REQUEST_UNKNOWN", "expected a JSON object with records or fields"
    )


def _list_records(app: RestServer, req: RecordedRequest, table: str) -> Response:
    try:
        size = int_param(req, "pageSize", 100, 1, 100)
    except BadRequest as exc:
        return _airtable_error(422, "INVALID_REQUEST_UNKNOWN", str(exc))
    offset = param(req, "offset")
    with app.lock:
        stored = list(app.tables.get(table, []))
    start = 0
    if offset:
        index, _, rec_id = offset.removeprefix("itr").partition("/")
        if (
            not offset.startswith("itr")
            or not index.isdigit()
            or int(index) >= len(stored)
            or stored[int(index)]["id"] != rec_id
        ):
            return _airtable_error(
                422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", f"invalid offset {offset!r}"
            )
        start = int(index)
    body: dict[str, Any] = {"records": stored[start : start + size]}
    if start + size < len(stored):
        body["offset"] = f"itr{start + size}/{stored[start + size]['id']}"
    return json_response(200, body)
