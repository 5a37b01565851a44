"""HTTP for the connectors: one pooled session per connection, credentials bound to their
origin, redirects followed by hand, the rate limit, retries with backoff and Retry-After,
and a result in plain data.

Only this module, ``_transport`` and ``_redirects`` call requests; their failures become
ConnectorError here, chained with ``from``.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting

from .. import _coord
from .._errors import ConnectorError
from .._jsonsafe import MAX_VALUES, UntrustedJSONError, loads
from .._model import RetryPolicy
from .._retry import NO_RETRY, Backoff, parse_retry_after
from ._attempt_log import record, snippet
from ._common import DEFAULT_MAX_RESPONSE_SIZE
from ._environ import environment_settings
from ._oauth import TokenSource
from ._origin import BadURL, origin_of, origin_setting
from ._ratelimit import RateLimiter
from ._redirects import Hop, follow
from ._request import HttpRequest, header_text, status_matches
from ._transport import Answer, Failure, GuardedAdapter

if TYPE_CHECKING:
    from requests.sessions import _Settings

    from .._runtime import Runtime
    from ._common import ConnectionSettings

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
POOL_SIZE = 64
USER_AGENT = "hookline/0.1"
PREVIEW = 80  # characters of a body that is not valid JSON shown in the message
_RETRYABLE = frozenset({"refused", "timeout", "broken"})


def _is_json(content_type: str) -> bool:
    main = content_type.split(";")[0].strip().lower()
    return main == "application/json" or main.endswith("+json")


class _Session(requests.Session):
    """A Session that takes what the environment says about a URL (its proxies, the CA
    bundle) from ``_environ``, which works it out once per process and host instead of
    walking os.environ on every request, and forgets it when the environment changes."""

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if not (self.trust_env and isinstance(url, str) and isinstance(proxies, dict)) or proxies:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What requests does for a session that trusts the environment and an empty
        # proxies dict, with the environment's part looked up once.
        env_proxies, ca_bundle = environment_settings(url)
        proxies.update(env_proxies)  # requests fills the caller's dict too
        if verify is True or verify is None:
            verify = ca_bundle or verify
        if self.proxies:
            merged = merge_setting(proxies, self.proxies)
        else:  # merge_setting's answer, without its 9 us of Mapping checks
            merged = {k: v for k, v in proxies.items() if v is not None}
        return {
            "proxies": merged,
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def _limiter(
    runtime: Runtime, name: str, base_url: str, rate_limit: tuple[float, float]
) -> _coord.Limiter:
    """This run's own window, or in distributed mode the one every worker shares for the
    pipeline's connection ``name`` to the origin of ``base_url``."""
    shared = _coord.shared()
    if shared is None:
        return RateLimiter(*rate_limit)
    try:
        origin = origin_of(base_url) if base_url else ""
    except BadURL:
        origin = base_url
    return shared.rate_limiter(runtime.pipeline.name, name, origin, *rate_limit)


class HttpClient:
    """The HTTP side of one connection (or of the steps that give a whole URL).

    What the connection adds (its ``headers``, its ``auth``, cookies it was given) goes
    only to its own origin (the origin of ``base_url``) and to those in ``allow_origins``.
    """

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
        allow_origins: tuple[str, ...] = (),
        follow_redirects: bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self.name = name
        self.runtime = runtime
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.retry = retry
        self.follow_redirects = follow_redirects
        self.max_response_size = max_response_size
        self.limiter = _limiter(runtime, name, base_url, rate_limit) if rate_limit else None
        self.session = _Session()
        # `hookline test` answers at the HTTP layer, so that everything above it (auth,
        # redirects, pagination, retries, parsing) runs as in production.
        self.point = runtime.answer_point
        self.adapter = (
            GuardedAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
            if self.point is None
            else self.point.adapter(self)
        )
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        try:
            own = {origin_of(self.base_url)} if self.base_url else set()
        except BadURL:
            own = set()  # every request to it fails with a clear message
        allowed = {origin_setting(o) for o in allow_origins}
        self.origins = frozenset(o for o in own | allowed if o is not None)
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
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            redact(password)
            redact(pair)
            self.headers["Authorization"] = f"Basic {pair}"
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
            self.tokens = TokenSource(self, conf, self.runtime.redactor)

    def url(self, path: str) -> str:
        if not path:
            return self.base_url
        return f"{self.base_url}/{path.lstrip('/')}" if self.base_url else path

    def close(self) -> None:
        self.session.close()

    def trusts(self, origin: str) -> bool:
        """True when the connection's credentials may go to ``origin``."""
        return origin in self.origins

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
        called = time.monotonic()
        while True:
            self.runtime.check_cancelled()
            deadline = self._step_deadline(step_id, req, timeout, called)
            slot = self._slot(step_id, req, deadline)
            if self.limiter is not None and slot is None:
                raise self._step_timeout(step_id, req, timeout, called)
            token = self.tokens.token(step_id) if self.tokens else None
            left = self.runtime.remaining()
            cut_by_step = left is not None and left < limit
            attempt_limit = limit if left is None else max(0.0, min(limit, left))
            started = time.monotonic()
            hop = Hop(req, token)
            if self.point is not None:
                self.point.sending(step_id)
            if self.limiter is not None and slot is not None:
                hop.leaving = functools.partial(self.limiter.sent, slot)
            try:
                answer = follow(self, step_id, hop, attempt_limit)
            except Failure as failure:
                if failure.kind == "timeout" and cut_by_step:
                    record(self.runtime, step_id, backoff.attempt, req, None,
                           time.monotonic() - started, "timed out", hop.sent_headers)  # fmt: skip
                    raise self._step_timeout(step_id, req, timeout, called) from failure
                reason = failure.reason
                if failure.kind == "timeout":
                    reason = f"no complete answer within {limit:g}s (timeout)"
                elapsed = time.monotonic() - started
                record(self.runtime, step_id, backoff.attempt, req, None, elapsed, reason,
                       hop.sent_headers)  # fmt: skip
                retryable = (not failure.sent or safe_method) and failure.kind in _RETRYABLE
                delay = self._next_delay(step_id, backoff) if retryable else None
                if delay is None:
                    hint = (
                        ""
                        if retryable or policy.attempts == 1 or failure.kind not in _RETRYABLE
                        else (
                            f" (not retried: a {req.method} may have reached the server; "
                            "set idempotent: true if repeating it is safe)"
                        )
                    )
                    raise ConnectorError(
                        step_id, f"{req.method} {self.show(req.url)}: {reason}{hint}"
                    ) from failure
                self._log_retry(step_id, backoff, reason, delay)
                self.runtime.sleep(delay)
                continue
            elapsed = time.monotonic() - started
            result = self._result(step_id, req, answer)
            record(self.runtime, step_id, backoff.attempt, req, answer, elapsed, None, {})
            status = answer.status
            if status == 401 and token is not None and self.tokens and not refreshed:
                self.tokens.invalidate(token)  # expired or revoked early: fetch a new one once
                refreshed = True
                continue
            if status_matches(status, expect):
                return result
            # A 429 means the server refused the request without acting on it.
            if status in policy.on_status and (safe_method or status == 429):
                wait = parse_retry_after(answer.headers.get("Retry-After"))
                delay = self._next_delay(step_id, backoff, wait)
                if delay is not None:
                    self._log_retry(step_id, backoff, f"answered {status}", delay)
                    self.runtime.sleep(delay)
                    continue
            elif status in policy.on_status and policy.attempts > 1:
                # The retry the user wrote does nothing here: say so, with the fix.
                self.runtime.log.warning(
                    f"{step_id}: not retrying the {status}: a {req.method} is sent again only "
                    "when it never reached the server or was refused with 429; set "
                    "idempotent: true under retry if sending it twice is safe",
                    event="retry_skipped",
                    step=step_id,
                )
            raise ConnectorError(
                step_id,
                f"{req.method} {self.show(answer.url)} answered {status} {answer.reason}".rstrip()
                + snippet(self.runtime, answer.text),
                {"status": status, "body": result["body"]},
                status=status,
            )

    def _step_deadline(
        self, step_id: str, req: HttpRequest, timeout: float | None, called: float
    ) -> float | None:
        left = self.runtime.remaining()
        if left is not None and left <= 0:
            raise self._step_timeout(step_id, req, timeout, called)
        return None if left is None else time.monotonic() + left

    def _slot(self, step_id: str, req: HttpRequest, deadline: float | None) -> Any | None:
        """A rate-limit slot; a shared limit that cannot be counted (its Redis out of
        reach) fails the step rather than letting the request go uncounted."""
        if self.limiter is None:
            return None
        try:
            return self.limiter.acquire(deadline)
        except OSError as exc:
            raise ConnectorError(step_id, f"{req.method} {self.show(req.url)}: {exc}") from exc

    def _step_timeout(
        self, step_id: str, req: HttpRequest, timeout: float | None, called: float
    ) -> ConnectorError:
        spent = timeout if timeout is not None else round(time.monotonic() - called, 1)
        return ConnectorError(
            step_id, f"{req.method} {self.show(req.url)}: timed out after {spent:g}s "
            "(the step's timeout)"
        )  # fmt: skip

    def _next_delay(
        self, step_id: str, backoff: Backoff, retry_after: float | None = None
    ) -> float | None:
        delay = backoff.next_delay(retry_after, self.runtime.remaining())
        if delay is None and backoff.policy.attempts > 1 and backoff.stopped_because:
            self.runtime.log.warning(
                f"{step_id}: not retrying: {backoff.stopped_because}",
                event="retry_stopped",
                step=step_id,
            )
        return delay

    def post_form(self, step_id: str, url: str, form: dict[str, str]) -> Answer:
        """One POST of a form to ``url`` with none of the connection's credentials and no
        redirect followed (the OAuth2 token request). Raises Failure."""
        left = self.runtime.remaining()
        limit = self.timeout if left is None else max(0.0, min(self.timeout, left))
        hop = Hop(HttpRequest("POST", url, form=form), None, credentials=False)
        if self.point is not None:
            self.point.sending(step_id, token_request=True)
        return follow(self, step_id, hop, limit, redirects=False)

    def _result(self, step_id: str, req: HttpRequest, answer: Answer) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in answer.headers.items()}
        body: Any = None
        if answer.content:
            if _is_json(headers.get("content-type", "")):
                try:
                    # a larger size cap is a larger memory budget: the value bound follows it
                    most = max(MAX_VALUES, self.max_response_size // 10)
                    body = loads(answer.content, max_values=most)
                except UntrustedJSONError as exc:
                    what = (
                        f"the JSON body {exc.verb} {exc}"
                        if exc.verb
                        else f"the body is not valid JSON ({exc})"
                    )
                    preview = self.runtime.redactor.clip(answer.text, PREVIEW)
                    raise ConnectorError(
                        step_id,
                        f"{req.method} {self.show(answer.url)} answered {answer.status} with "
                        f"Content-Type {headers['content-type']} but {what}; it begins: "
                        f"{preview!r}",
                        status=answer.status,
                    ) from None
            else:
                body = answer.text
        return {"status": answer.status, "headers": headers, "body": body}

    def show(self, url: str) -> str:
        """A URL for messages: without its query (which may carry keys) and redacted."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.runtime.redactor.text(url.split("?")[0])
        return self.runtime.redactor.text(f"{parts.scheme}://{parts.netloc}{parts.path}")

    def _log_retry(self, step_id: str, backoff: Backoff, reason: str, delay: float) -> None:
        self.runtime.log.warning(
            f"{step_id}: attempt {backoff.attempt - 1} {reason}; retrying in {delay:.2f}s "
            f"(attempt {backoff.attempt} of {backoff.policy.attempts})",
            event="retry",
            step=step_id,
        )


def connection_client(
    settings: ConnectionSettings,
    runtime: Runtime,
    base_url: str,
    context: dict[str, Any],
) -> HttpClient:
    """The HTTP client of a connection (REST, GraphQL, a SOAP endpoint): every setting the
    connection kinds share, its ``headers`` and ``auth`` rendered in ``context``."""
    s = settings
    return HttpClient(
        s.name,
        runtime,
        base_url=base_url,
        headers=s.headers.render(context) if s.headers else None,
        auth=s.auth.render(context) if s.auth else None,
        timeout=s.timeout,
        verify=s.verify,
        retry=s.retry,
        rate_limit=s.rate_limit,
        allow_origins=s.allow_origins,
        follow_redirects=s.follow_redirects,
        max_response_size=s.max_response_size,
    )
