"""Routes of the test REST server: dispatch, echo, auth, OAuth2, retries, odd answers.

Pagination and the Airtable-like API are in ``rest_data``. Every route takes the server
(its state and settings) and the recorded request, and returns a ``Response``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

from .rest_app import RecordedRequest, Response, RestServer, json_response


class BadRequest(Exception):
    """A malformed parameter: answered 400 ``{"error": message}``."""


def param(req: RecordedRequest, name: str) -> str | None:
    values = req.query.get(name)
    return values[0] if values else None


def int_param(
    req: RecordedRequest, name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = param(req, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise BadRequest(f"{name} out of range: {value}")
    return value


def float_param(req: RecordedRequest, name: str, default: float) -> float:
    raw = param(req, name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0:
        raise BadRequest(f"{name} must be >= 0")
    return value


def not_found() -> Response:
    return json_response(404, {"error": "not found"})


def route(app: RestServer, req: RecordedRequest) -> Response:
    from . import rest_data

    segments = [unquote(s) for s in req.path.split("/")[1:]]
    head = segments[0] if segments else ""
    try:
        if req.path == "/echo":
            return echo(req)
        if head == "auth" and len(segments) == 2:
            return auth(app, req, segments[1])
        if req.path == "/oauth/token":
            return oauth_token(app, req)
        if req.path == "/oauth/protected":
            return oauth_protected(app, req)
        if req.path == "/oauth/revoke":
            return oauth_revoke(app, req)
        if head == "flaky" and len(segments) == 2 and segments[1]:
            return flaky(app, req, segments[1])
        if head == "status" and len(segments) == 2:
            return status(req, segments[1])
        if head == "pages" and len(segments) == 2:
            return rest_data.pages(app, req, segments[1])
        if req.path == "/crm/contacts":
            return rest_data.crm_contacts(app, req)
        if head == "v0" and len(segments) == 3 and all(segments[1:]):
            return rest_data.airtable(app, req, segments[1], segments[2])
        simple = SIMPLE.get(req.path)
        return simple(app, req) if simple else not_found()
    except BadRequest as exc:
        return json_response(400, {"error": str(exc)})


# -- echo ------------------------------------------------------------------------------------


def form_of(req: RecordedRequest) -> dict[str, list[str]] | None:
    content_type = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    return parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)


def echo(req: RecordedRequest) -> Response:
    if req.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        return json_response(405, {"error": "method not allowed"})
    return json_response(
        200,
        {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.headers,
            "json": req.json,
            "form": form_of(req),
            "text": req.body.decode("utf-8", "replace"),
        },
    )


# -- auth ------------------------------------------------------------------------------------


def bearer_of(req: RecordedRequest) -> str | None:
    scheme, _, token = (req.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def basic_of(req: RecordedRequest) -> tuple[str, str] | None:
    scheme, _, encoded = (req.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def unauthorized(challenge: str | None = None) -> Response:
    headers = [("WWW-Authenticate", challenge)] if challenge else []
    return json_response(401, {"error": "unauthorized"}, headers)


def auth(app: RestServer, req: RecordedRequest, kind: str) -> Response:
    if kind == "bearer":
        ok = bearer_of(req) == app.bearer_token
        challenge: str | None = 'Bearer realm="hookline"'
    elif kind == "basic":
        ok = basic_of(req) == (app.basic_user, app.basic_password)
        challenge = 'Basic realm="hookline"'
    elif kind == "header":
        ok = req.header("X-API-Key") == app.api_key
        challenge = None
    elif kind == "query":
        ok = req.query.get("api_key") == [app.api_key]
        challenge = None
    else:
        return not_found()
    return json_response(200, {"ok": True}) if ok else unauthorized(challenge)


# -- OAuth2 client credentials -----------------------------------------------------------------


def oauth_token(app: RestServer, req: RecordedRequest) -> Response:
    if req.method != "POST":
        return json_response(405, {"error": "method not allowed"})
    form = form_of(req) or {}

    def field(name: str) -> str | None:
        values = form.get(name)
        return values[0] if values else None

    if field("grant_type") != "client_credentials":
        return json_response(400, {"error": "unsupported_grant_type"})
    credentials = basic_of(req) or (field("client_id"), field("client_secret"))
    if credentials != (app.client_id, app.client_secret):
        return json_response(
            401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="oauth"')]
        )
    with app.lock:
        app.tokens_issued += 1
        token = secrets.token_urlsafe(24)  # 32 characters
        app.tokens[token] = (app.tokens_issued, time.monotonic() + app.token_lifetime)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": app.token_lifetime,
        }
    scope = field("scope")
    if scope is not None:
        body["scope"] = scope
    return json_response(200, body, [("Cache-Control", "no-store")])


def oauth_protected(app: RestServer, req: RecordedRequest) -> Response:
    token = bearer_of(req)
    with app.lock:
        issued = app.tokens.get(token) if token else None
    if issued is None or time.monotonic() >= issued[1]:
        return unauthorized('Bearer error="invalid_token"')
    return json_response(200, {"ok": True, "token_number": issued[0]})


def oauth_revoke(app: RestServer, req: RecordedRequest) -> Response:
    """``POST /oauth/revoke``: revoke_tokens() from inside a pipeline (no auth needed)."""
    if req.method != "POST":
        return json_response(405, {"error": "method not allowed"})
    with app.lock:
        revoked = len(app.tokens)
    app.revoke_tokens()
    return json_response(200, {"ok": True, "revoked": revoked})


# -- retries and odd answers -------------------------------------------------------------------


def retry_after_header(req: RecordedRequest) -> list[tuple[str, str]]:
    if param(req, "retry_after") is None:
        return []
    seconds = float_param(req, "retry_after", 0)
    style = param(req, "retry_after_format") or "seconds"
    if style == "seconds":
        return [("Retry-After", str(int(seconds)) if seconds == int(seconds) else str(seconds))]
    if style == "date":
        return [("Retry-After", formatdate(time.time() + seconds, usegmt=True))]
    raise BadRequest(f"retry_after_format must be seconds or date, got {style!r}")


def flaky(app: RestServer, req: RecordedRequest, key: str) -> Response:
    fail = int_param(req, "fail", 1)
    code = int_param(req, "status", 503, 400, 599)
    headers = retry_after_header(req)
    with app.lock:
        attempt = app.attempts[key] = app.attempts.get(key, 0) + 1
    if attempt <= fail:
        return json_response(code, {"error": f"status {code}", "attempt": attempt}, headers)
    return json_response(200, {"ok": True, "attempt": attempt})


def status(req: RecordedRequest, raw: str) -> Response:
    if not raw.isdigit() or not 200 <= int(raw) <= 599:
        raise BadRequest(f"status must be 200..599, got {raw!r}")
    code = int(raw)
    if code in (204, 304):
        return Response(code, b"", "application/json", retry_after_header(req))
    return json_response(code, {"error": f"status {code}"}, retry_after_header(req))


def invalid_json(app: RestServer, req: RecordedRequest) -> Response:
    return Response(200, b'{"broken": ', "application/json")


def text(app: RestServer, req: RecordedRequest) -> Response:
    return Response(200, b"hello", "text/plain; charset=utf-8")


def slow(app: RestServer, req: RecordedRequest) -> Response:
    seconds = float_param(req, "seconds", 1.0)
    app.stopping.wait(seconds)  # stop() cuts the sleep short
    return json_response(200, {"slept": seconds})


def html_error(app: RestServer, req: RecordedRequest) -> Response:
    phrase = HTTPStatus(500).phrase
    page = (
        f"<!DOCTYPE html>\n<html><head><title>500 {phrase}</title></head>\n"
        f"<body><h1>{phrase}</h1><p>The upstream proxy failed.</p></body></html>\n"
    )
    return Response(500, page.encode(), "text/html; charset=utf-8")


SIMPLE = {
    "/invalid-json": invalid_json,
    "/text": text,
    "/slow": slow,
    "/html-error": html_error,
}
