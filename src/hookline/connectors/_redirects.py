"""One attempt of a request: credentials added by origin, redirects followed by hand.

requests' own redirect handling strips only ``Authorization`` when a redirect leaves the
host, and keeps API-key headers, API-key query parameters and the connection's custom
headers. Here every hop is prepared afresh: what the connection adds goes only to the
origins it trusts, a step's own credential headers only to the origin it named, a body
never to another origin, and https never downgrades to http.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.utils import requote_uri

from .._redact import CREDENTIAL_HEADERS
from ._origin import BadURL, origin_of, sent_origin
from ._request import HttpRequest
from ._transport import Answer, Failure, exchange

if TYPE_CHECKING:
    from ._http import HttpClient

MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry a credential by their name, whatever the value: the one list that the
# redactor masks by name, plus the obsolete Cookie2.
SENSITIVE = CREDENTIAL_HEADERS | {"cookie2"}
USER_AGENT = "hookline/0.1"
BASE_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept-Encoding": "gzip, deflate",  # what _transport can undo within the size cap
    "Accept": "*/*",
    "Connection": "keep-alive",
}


class Hop:
    """What one attempt sends, and the headers of its last hop (for the record).

    A plain class, not a dataclass: every REST run imports it (see ``_frozen``)."""

    __slots__ = ("credentials", "leaving", "req", "sent_headers", "token")

    def __init__(
        self,
        req: HttpRequest,
        token: str | None,
        credentials: bool = True,
        sent_headers: dict[str, str] | None = None,
        leaving: Callable[[], None] | None = None,
    ) -> None:
        self.req = req
        self.token = token
        self.credentials = credentials  # False: none of the connection's (an OAuth2 token)
        self.sent_headers: dict[str, str] = {} if sent_headers is None else sent_headers
        self.leaving = leaving  # called once, just before the first send


def follow(
    client: HttpClient, step_id: str, hop: Hop, limit: float, *, redirects: bool = True
) -> Answer:
    """Send ``hop.req`` and follow redirects, all within ``limit`` seconds; raise Failure."""
    deadline = time.monotonic() + limit
    req = hop.req
    method, url, body = req.method, req.url, _body(req)
    try:
        first = origin = origin_of(url)
    except BadURL as exc:
        raise Failure("invalid", str(exc)) from None
    status = 0  # of the redirect that led to the current hop
    for hops in range(MAX_REDIRECTS + 1):
        trusted = hop.credentials and client.trusts(origin)
        headers = dict(BASE_HEADERS)
        if trusted:
            headers.update(client.headers)
            if hop.token is not None:
                headers["Authorization"] = f"Bearer {hop.token}"
        for name, value in req.headers.items():
            if origin == first or not _carries_secret(client, name, value):
                headers[name] = value
        query = [*req.params, *(client.query_auth if trusted else [])] if hops == 0 else []
        cookies = client.session.cookies if trusted else None
        prepared = _prepare(method, url, query, headers, body, cookies)
        _check_sent_origin(prepared, origin)
        hop.sent_headers = dict(prepared.headers)
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("timeout", f"no complete answer within {limit:g}s (timeout)")
        settings = client.session.merge_environment_settings(
            prepared.url, {}, True, client.verify, None
        )
        try:
            answer, raw = exchange(
                client.adapter,
                prepared,
                limit=left,
                max_size=client.max_response_size,
                settings=dict(settings),
                leaving=hop.leaving if hops == 0 else None,
            )
        except Failure as failure:
            if hops:  # the first hop reached the server: whatever failed after, it was sent
                failure.sent = True
                failure.reason = f"redirected ({status}) to {client.show(url)}: {failure.reason}"
                failure.args = (failure.reason,)
            raise
        _learn_credentials(client, answer, raw)
        if trusted:  # an origin the connection does not trust cannot plant cookies
            extract_cookies_to_jar(client.session.cookies, prepared, raw)
        location = answer.headers.get("location")
        follows = redirects and client.follow_redirects and answer.status in REDIRECTS
        if not follows or not location:
            return answer
        status = answer.status
        if hops == MAX_REDIRECTS:
            raise Failure("redirect", f"more than {MAX_REDIRECTS} redirects; stopped following")
        target = _target(url, location, status)
        try:
            new_origin = origin_of(target)
        except BadURL as exc:
            raise Failure(
                "redirect", f"answered {status} redirecting to a URL that is {exc}"
            ) from None
        if url.lower().startswith("https:") and new_origin.startswith("http:"):
            raise Failure(
                "redirect",
                f"answered {status} redirecting from https to http ({new_origin}); refused, the "
                "request would travel unencrypted",
            )
        if status == 303 or (status in (301, 302) and method == "POST"):
            method = method if method == "HEAD" else "GET"
            body = {}
        elif body and new_origin != origin and not (hop.credentials and client.trusts(new_origin)):
            raise Failure(
                "redirect",
                f"answered {status} redirecting the {method} to another origin ({new_origin}); "
                "its body is not sent to another origin",
            )
        if not (hop.credentials and client.trusts(new_origin)):
            target = _without_secrets(client, target)
        url, origin = target, new_origin
    raise AssertionError("unreachable")  # pragma: no cover


def _learn_credentials(client: HttpClient, answer: Answer, raw: Any) -> None:
    """Credentials a server hands out (a session cookie, a token header) are secrets from
    now on, as an OAuth2 token is: every sink masks them, the step's result in the history
    included. The redactor ignores values shorter than 4 characters."""
    if not any(name.lower() in CREDENTIAL_HEADERS for name in answer.headers):
        return
    learn = client.runtime.redactor.add
    for name, value in answer.headers.items():
        if name.lower() in CREDENTIAL_HEADERS and name.lower() != "set-cookie":
            learn(value.strip())
    getlist = getattr(getattr(raw, "headers", None), "getlist", None)
    cookies = getlist("Set-Cookie") if getlist else [answer.headers.get("set-cookie", "")]
    for cookie in cookies:
        value = cookie.split(";", 1)[0].partition("=")[2].strip()
        learn(value)
        if len(value) > 1 and value[0] == value[-1] == '"':
            learn(value[1:-1])


def _check_sent_origin(prepared: requests.PreparedRequest, origin: str) -> None:
    """The credentials were chosen for ``origin``: refuse to send them anywhere else, should
    the parser that connects read the prepared URL differently (see ``_origin``)."""
    try:
        sent = sent_origin(str(prepared.url))
    except BadURL as exc:
        raise Failure("invalid", str(exc)) from None
    if sent != origin:
        raise Failure(
            "invalid",
            f"not a valid URL (it reads as {origin} but would be sent to {sent}); refused",
        )


def _body(req: HttpRequest) -> dict[str, Any]:
    if req.has_json:
        return {"json": req.json}
    if req.form is not None:
        return {"data": req.form}
    if req.body is not None:
        return {"data": req.body}
    return {}


def _carries_secret(client: HttpClient, name: str, value: str) -> bool:
    if name.lower() in SENSITIVE:
        return True
    return client.runtime.redactor.text(value) != value


def _without_secrets(client: HttpClient, url: str) -> str:
    """``url`` without the query parameters that hold a secret (a Location that echoes
    the API key of the first request must not carry it to another origin)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    text = client.runtime.redactor.text
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if text(k) == k and text(v) == v]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _target(url: str, location: str, status: int) -> str:
    with contextlib.suppress(UnicodeError):
        location = location.encode("latin-1").decode("utf-8")  # as requests does
    try:
        return requote_uri(urljoin(url, location))
    except ValueError as exc:
        raise Failure("redirect", f"answered {status} redirecting to a URL that is not "
                      f"valid ({exc})") from None  # fmt: skip


def _prepare(
    method: str,
    url: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: dict[str, Any],
    cookies: RequestsCookieJar | None,
) -> requests.PreparedRequest:
    for name, value in headers.items():
        try:
            name.encode("latin-1")
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise Failure(
                "invalid",
                f"header '{name}' holds characters outside Latin-1, which an HTTP header "
                "cannot carry; encode the value first (base64 or percent-encoding)",
            ) from None
    if isinstance(body.get("data"), str):
        try:
            body = {"data": body["data"].encode("utf-8")}
        except UnicodeEncodeError:
            raise Failure("invalid", "the body holds text that is not valid Unicode (a lone "
                          "surrogate)") from None  # fmt: skip
    request = requests.Request(
        method, url, headers=headers, params=query or None, cookies=cookies, **body
    )
    try:
        return request.prepare()
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise Failure("invalid", "not an http:// or https:// URL") from None
    except requests.exceptions.InvalidHeader:
        raise Failure("invalid", "a header value is not valid (does a secret or header hold a "
                      "line break?)") from None  # fmt: skip
    except requests.exceptions.InvalidJSONError:
        raise Failure("invalid", "the JSON body holds a number JSON cannot carry (NaN or "
                      "Infinity)") from None  # fmt: skip
    except UnicodeError:
        raise Failure("invalid", "the request holds text that is not valid Unicode (a lone "
                      "surrogate)") from None  # fmt: skip
    except (requests.RequestException, ValueError):
        raise Failure("invalid", "not a valid URL") from None
