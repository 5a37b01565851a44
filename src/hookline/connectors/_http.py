"""HTTP for the connectors: one pooled session per connection, auth, the rate limit,
retries with backoff and Retry-After, and a result in plain data.

Only this module (and the OAuth2 token source) calls requests; its exceptions become
ConnectorError here, chained with ``from``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .._errors import ConnectorError
from .._model import RetryPolicy
from .._retry import NO_RETRY, Backoff, parse_retry_after
from ._oauth import TokenSource
from ._ratelimit import RateLimiter
from ._request import HttpRequest, header_text, status_matches

if TYPE_CHECKING:
    from requests.sessions import _Settings

    from .._runtime import Runtime

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
BODY_LIMIT = 64 * 1024
POOL_SIZE = 64
USER_AGENT = "hookline/0.1"


def _is_json(content_type: str) -> bool:
    main = content_type.split(";")[0].strip().lower()
    return main == "application/json" or main.endswith("+json")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely did not reach the server (safe to retry any method)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, NewConnectionError | NameResolutionError):
                return True
            cause = (
                cause.__cause__
                or cause.__context__
                or (
                    cause.args[0]
                    if cause.args and isinstance(cause.args[0], BaseException)
                    else None
                )
            )
    return False


# Requests that cannot be sent as written: trying again cannot help.
_INVALID = (
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)


def _describe_failure(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.MissingSchema):
        return "not an http:// or https:// URL"
    if isinstance(exc, requests.exceptions.InvalidURL):
        return "not a valid URL"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return "a header value is not valid (does a secret or header hold a line break?)"
    if isinstance(exc, requests.exceptions.InvalidJSONError):
        return "the JSON body holds a number JSON cannot carry (NaN or Infinity)"
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {timeout:g}s"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s (timeout)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS verification failed (set 'verify' to a CA bundle for a private CA)"
    if isinstance(exc, requests.ConnectionError):
        return "the connection was refused" if _never_sent(exc) else "the connection broke"
    return type(exc).__name__


def truncate(text: str) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= BODY_LIMIT:
        return text
    cut = data[:BODY_LIMIT].decode("utf-8", "ignore")
    return f"{cut}… (truncated: {len(data)} bytes in all)"


def _body_text(req: HttpRequest) -> str | None:
    if req.has_json:
        return json.dumps(req.json, ensure_ascii=False)
    if req.form is not None:
        return json.dumps(req.form, ensure_ascii=False)
    return req.body


class _Session(requests.Session):
    """A Session that reads the proxy and CA-bundle environment variables once per scheme
    and host instead of on every request. requests scans os.environ two or three times per
    request for them (about 100 us of CPU, a sixth of a local request); a client lives for
    one run, so a variable changed in the middle of a run is seen by the next run."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], _Settings] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if proxies or not self.trust_env:  # nothing read from the environment to keep
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        fresh = settings.copy()  # the caller may change the dict and its proxies
        fresh["proxies"] = dict(settings["proxies"])
        return fresh


class HttpClient:
    """The HTTP side of one connection (or of the steps that give a whole URL)."""

    def __init__(
        self,
        name: str,
        runtime: Runtime,
        *,
        base_url: str = "",
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        rate_limit: tuple[float, float] | None = None,
    ) -> None:
        self.name = name
        self.runtime = runtime
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.retry = retry
        self.limiter = RateLimiter(*rate_limit) if rate_limit else None
        self.session = _Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.headers = {str(k): header_text(v) for k, v in (headers or {}).items() if v is not None}
        self.query_auth: list[tuple[str, str]] = []
        self.tokens: TokenSource | None = None
        self._apply_auth(auth or {})

    def _apply_auth(self, auth: dict[str, Any]) -> None:
        redact = self.runtime.redactor.add
        if "bearer" in auth:
            redact(str(auth["bearer"]))
            self.headers["Authorization"] = f"Bearer {auth['bearer']}"
        elif "basic" in auth:
            user, password = str(auth["basic"]["username"]), str(auth["basic"]["password"])
            pair = f"{user}:{password}"
            redact(password)
            redact(base64.b64encode(pair.encode()).decode())
            self.session.auth = (user, password)
        elif "api_key" in auth:
            conf = auth["api_key"]
            redact(str(conf["value"]))
            if conf.get("header"):
                self.headers[str(conf["header"])] = str(conf["value"])
            else:
                self.query_auth.append((str(conf["query"]), str(conf["value"])))
        elif "oauth2" in auth:
            conf = {k: str(v) for k, v in auth["oauth2"].items()}
            for key in ("client_id", "client_secret"):
                redact(conf[key])
            self.tokens = TokenSource(
                self.session, conf, self.runtime.redactor, self.timeout, self.verify
            )

    def url(self, path: str) -> str:
        if not path:
            return self.base_url
        return f"{self.base_url}/{path.lstrip('/')}" if self.base_url else path

    def close(self) -> None:
        self.session.close()

    # --- sending ------------------------------------------------------------------

    def send(
        self,
        step_id: str,
        req: HttpRequest,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        expect: tuple[int | str, ...] = ("2xx",),
    ) -> dict[str, Any]:
        """Send with the retry policy; return {status, headers, body} or raise ConnectorError."""
        policy = retry or self.retry or NO_RETRY
        limit = timeout or self.timeout
        backoff = Backoff(policy)
        safe_method = req.method in IDEMPOTENT or policy.idempotent
        refreshed = False
        while True:
            self.runtime.check_cancelled()
            slot = self.limiter.acquire() if self.limiter is not None else None
            token = self.tokens.token(step_id) if self.tokens else None
            if self.limiter is not None and slot is not None:
                self.limiter.sent(slot)
            started = time.monotonic()
            try:
                resp = self._request(req, limit, token)
            except requests.RequestException as exc:
                elapsed = time.monotonic() - started
                reason = _describe_failure(exc, limit)
                self._record(step_id, backoff.attempt, req, None, elapsed, reason)
                retryable = (_never_sent(exc) or safe_method) and not isinstance(exc, _INVALID)
                delay = backoff.next_delay() if retryable else None
                if delay is None:
                    hint = (
                        ""
                        if retryable or policy.attempts == 1 or isinstance(exc, _INVALID)
                        else (
                            f" (not retried: a {req.method} may have reached the server; "
                            "set idempotent: true if repeating it is safe)"
                        )
                    )
                    raise ConnectorError(
                        step_id, f"{req.method} {self._show(req.url)}: {reason}{hint}"
                    ) from exc
                self._log_retry(step_id, backoff, reason, delay)
                self.runtime.sleep(delay)
                continue
            except OSError as exc:  # a CA bundle that vanished since the file was checked
                raise ConnectorError(step_id, f"{req.method} {self._show(req.url)}: {exc}") from exc
            elapsed = time.monotonic() - started
            result = self._result(step_id, req, resp)
            self._record(step_id, backoff.attempt, req, resp, elapsed, None, result)
            status = resp.status_code
            if status == 401 and token is not None and self.tokens and not refreshed:
                self.tokens.invalidate(token)  # expired or revoked early: fetch a new one once
                refreshed = True
                continue
            if status_matches(status, expect):
                return result
            # A 429 means the server refused the request without acting on it.
            if status in policy.on_status and (safe_method or status == 429):
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                delay = backoff.next_delay(wait)
                if delay is not None:
                    self._log_retry(step_id, backoff, f"answered {status}", delay)
                    self.runtime.sleep(delay)
                    continue
            raise ConnectorError(
                step_id,
                f"{req.method} {self._show(req.url)} answered {status} {resp.reason or ''}".rstrip()
                + _snippet(resp.text),
                {"status": status, "body": result["body"]},
                status=status,
            )

    def _request(self, req: HttpRequest, timeout: float, token: str | None) -> requests.Response:
        headers = {**self.headers, **req.headers}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {
            "params": [*req.params, *self.query_auth] or None,
            "headers": headers,
            "timeout": timeout,
            "verify": self.verify,
            "allow_redirects": True,
        }
        if req.has_json:
            kwargs["json"] = req.json
        elif req.form is not None:
            kwargs["data"] = req.form
        elif req.body is not None:
            kwargs["data"] = req.body.encode("utf-8")
        return self.session.request(req.method, req.url, **kwargs)

    def _result(self, step_id: str, req: HttpRequest, resp: requests.Response) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        body: Any = None
        if resp.content:
            if _is_json(headers.get("content-type", "")):
                try:
                    body = resp.json()
                except ValueError as exc:
                    first = resp.content[:80].decode("utf-8", "replace")
                    raise ConnectorError(
                        step_id,
                        f"{req.method} {self._show(req.url)} answered {resp.status_code} with "
                        f"Content-Type {headers['content-type']} but the body is not valid "
                        f"JSON ({exc}); it begins: {self.runtime.redactor.text(first)!r}",
                        status=resp.status_code,
                    ) from None
            else:
                body = resp.text
        return {"status": resp.status_code, "headers": headers, "body": body}

    def _show(self, url: str) -> str:
        """A URL for messages: without its query (which may carry keys) and redacted."""
        parts = urlsplit(url)
        return self.runtime.redactor.text(f"{parts.scheme}://{parts.netloc}{parts.path}")

    def _log_retry(self, step_id: str, backoff: Backoff, reason: str, delay: float) -> None:
        self.runtime.log.warning(
            f"{step_id}: attempt {backoff.attempt - 1} {reason}; retrying in {delay:.2f}s "
            f"(attempt {backoff.attempt} of {backoff.policy.attempts})",
            event="retry",
            step=step_id,
        )

    def _record(
        self,
        step_id: str,
        attempt: int,
        req: HttpRequest,
        resp: requests.Response | None,
        elapsed: float,
        error: str | None,
        result: dict[str, Any] | None = None,
    ) -> None:
        if not self.runtime.keeps_history and self.runtime.log.level != "verbose":
            return  # nobody reads the record: do not build it
        sent = resp.request if resp is not None else None
        headers = dict(sent.headers) if sent is not None else {**self.headers, **req.headers}
        record: dict[str, Any] = {
            "attempt": attempt,
            "duration_ms": round(elapsed * 1000, 1),
            "request": {
                "method": req.method,
                "url": sent.url if sent is not None else req.url,
                "headers": _mask(headers),
                "body": truncate(_body_text(req) or "") or None,
            },
            "response": None,
            "error": error,
        }
        if resp is not None:
            record["response"] = {
                "status": resp.status_code,
                "headers": _mask(dict(resp.headers)),
                "body": truncate(resp.text) if resp.content else None,
            }
        log = self.runtime.log
        if log.level == "verbose":
            request = record["request"]
            log.detail(
                f"{step_id}: → {req.method} {request['url']}" + _verbose(request, log.fmt),
                event="request",
                step=step_id,
                request=request,
            )
            if resp is not None:
                log.detail(
                    f"{step_id}: ← {resp.status_code} in {elapsed * 1000:.0f}ms"
                    + _verbose(record["response"], log.fmt),
                    event="response",
                    step=step_id,
                    response=record["response"],
                )
        self.runtime.record_attempt(step_id, record)


def _verbose(part: dict[str, Any], fmt: str) -> str:
    """Headers and the start of the body, indented, for --verbose text logs."""
    if fmt != "text":
        return ""  # JSON lines carry them as fields
    lines = [f"\n    {k}: {v}" for k, v in part["headers"].items()]
    body = part.get("body")
    if body:
        shown = body if len(body) <= 2000 else body[:2000] + "…"
        lines.append("\n    " + shown.replace("\n", "\n    "))
    return "".join(lines)


def _mask(headers: dict[str, Any]) -> dict[str, str]:
    return {k: ("***" if k.lower() in MASKED_HEADERS else str(v)) for k, v in headers.items()}


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    return f": {text[:200]}{'…' if len(text) > 200 else ''}"
