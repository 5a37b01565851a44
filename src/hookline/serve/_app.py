"""The public listener: a raw ASGI app that takes webhook deliveries (no framework).

Order of the checks, cheapest and least trusting first: path (404, matched on the path
as sent: '%2F' is no '/'), method (405), a repeated header that matters (400), size by
Content-Length (413, before a byte of the body is read), a missing signature or token
header (401, before the body is read), room in the budget of buffered bodies (503), the
body read with a count (413 for a chunked one past the limit) and a deadline (408),
signature or token (401: nothing stored, nothing run), encoding and media type (415),
parse (400), input_schema (422), then the durable commit (202, or 503 when the queue is
full or the store cannot commit). Only after the commit does a 2xx go out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from .._log import RunLog
from ._metrics import Metrics
from ._queue import Delivery, Intake, IntakeUnavailable, QueueFull
from ._waker import Waker
from ._webhook_auth import Refused, missing, verify
from ._webhook_body import BodyRefused, check_schema, parse_body
from ._webhook_route import Route, sync_reply

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

BODY_TIMEOUT = 30.0
"""Seconds a client has to send the whole body; a stalled one is answered 408."""
MAX_LOGGED_PATH = 200
"""The longest path written to the access log; a longer one is cut."""
MAX_BUFFERED = 64 * 1024 * 1024
"""Bytes of request bodies held in memory at once, all requests together; past it, 503."""
MAX_DELIVERY_KEY = 200
"""The longest delivery id (``delivery_header``) accepted; GitHub's are 36 characters."""
# Sync replies look for their run's outcome this often (seconds), growing to the last.
_POLLS = (0.005, 0.01, 0.02, 0.05, 0.1)

_JSON = [(b"content-type", b"application/json")]


class WebhookApp:
    """ASGI app of the public listener. ``routes`` is swapped whole on a reload."""

    def __init__(
        self,
        intake: Intake,
        metrics: Metrics,
        log: RunLog,
        *,
        body_timeout: float = BODY_TIMEOUT,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self.intake = intake
        self.body_timeout = body_timeout
        self.max_buffered = max_buffered
        self.metrics = metrics
        self.log = log
        self.routes: dict[str, dict[str, Route]] = {}  # path → method → route
        self._waker = Waker()
        # Metric children by label, looked up once: labels() takes a lock and builds a key.
        self._answers: dict[int, Any] = {}
        self._stopping = False
        self._buffered = 0  # body bytes read or promised by Content-Length, not yet let go
        self._reads: set[asyncio.Timeout] = set()  # body reads under way, ended at a stop
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._stopping = value
        if value and self._loop is not None and not self._loop.is_closed():
            # A body that stalls would hold the stop for --grace and end in a cancelled
            # task: its read ends now, answered 503 "the service is stopping".
            self._loop.call_soon_threadsafe(self._end_reads)

    def _end_reads(self) -> None:
        now = asyncio.get_running_loop().time()
        for timeout in list(self._reads):
            timeout.reschedule(now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not served
        started = time.perf_counter()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        status, run_id = await self._handle(scope, receive, send, started)
        counter = self._answers.get(status)
        if counter is None:
            counter = self._answers[status] = self.metrics.http.labels("public", str(status))
        counter.inc()
        ms = (time.perf_counter() - started) * 1000
        path = _shown_path(scope)
        self.log.info(
            f"{scope['method']} {path} {status} {ms:.1f}ms" + (f" run {run_id}" if run_id else ""),
            event="request",
            method=scope["method"],
            path=path,
            status=status,
            duration_ms=round(ms, 1),
            run_id=run_id,
        )

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, started: float
    ) -> tuple[int, str | None]:
        methods = self.routes.get(_route_path(scope))
        if methods is None:
            return await self._refuse(send, "not_found", 404, "no webhook is served at this path")
        route = methods.get(scope["method"])
        if route is None:
            allow = ", ".join(sorted(methods))
            return await self._refuse(
                send, "method", 405, f"this webhook takes {allow}", [(b"allow", allow.encode())]
            )
        if self.stopping:
            return await self._refuse(send, "stopping", 503, "the service is stopping")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if len(headers) != len(scope["headers"]):
            repeated = _repeated(route, scope["headers"])
            if repeated is not None:
                message = f"the {repeated} header is sent more than once"
                return await self._refuse(send, "malformed", 400, message, close=True)
        too_large = f"the body is larger than {route.max_body} bytes, the limit of this webhook"
        length = headers.get("content-length")
        # isascii: str.isdigit() also takes '²', which int() refuses.
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > route.max_body
        ):
            return await self._refuse(send, "too_large", 413, too_large, close=True)
        absent = missing(route.checks, headers)
        if absent is not None:  # refused before a byte of the body is read or held
            return await self._refuse(send, "unauthorized", 401, absent, close=True)
        held = int(length) if length is not None else 0
        if self._buffered + held > self.max_buffered:
            return await self._busy(send)
        budget = _Budget(self, held)
        try:
            return await self._take_body(receive, send, started, route, headers, budget)
        finally:
            budget.release()  # (at the latest: the body is let go of once parsed)

    async def _take_body(
        self,
        receive: Receive,
        send: Send,
        started: float,
        route: Route,
        headers: dict[str, str],
        budget: _Budget,
    ) -> tuple[int, str | None]:
        too_large = f"the body is larger than {route.max_body} bytes, the limit of this webhook"
        try:
            async with asyncio.timeout(self.body_timeout) as timeout:
                self._reads.add(timeout)
                try:
                    body = await _read_body(receive, route.max_body, budget)
                finally:
                    self._reads.discard(timeout)
        except TimeoutError:
            if self.stopping:
                return await self._refuse(
                    send, "stopping", 503, "the service is stopping", close=True
                )
            message = f"the body did not arrive within {self.body_timeout:g}s"
            return await self._refuse(send, "malformed", 408, message, close=True)
        except _OverBudget:
            return await self._busy(send)
        if body is None:
            return await self._refuse(send, "too_large", 413, too_large, close=True)
        try:
            verify(route.checks, headers, body)
        except Refused as exc:
            return await self._refuse(send, "unauthorized", 401, str(exc))
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", ""):
            self.metrics.refused.labels("content_type").inc()
            message = f"the Content-Encoding is '{encoding[:40]}': send the body uncompressed"
            return await _answer(send, 415, {"error": message}), None
        try:
            value, text = parse_body(headers.get("content-type"), body)
            del body
            budget.release()
            check_schema(route.pipeline, route.validator, value, text)
        except BodyRefused as exc:
            reason = {415: "content_type", 422: "schema"}.get(exc.status, "malformed")
            self.metrics.refused.labels(reason).inc()
            return await _answer(send, exc.status, exc.answer()), None
        key = headers.get(route.delivery_header) if route.delivery_header else None
        if key is not None and (len(key) > MAX_DELIVERY_KEY or not key.strip()):
            message = (
                f"the {route.delivery_header} header is empty or over {MAX_DELIVERY_KEY} characters"
            )
            return await self._refuse(send, "malformed", 400, message)
        delivery = Delivery(route.name, "webhook", value, key and key.strip(), time.time())
        try:
            accepted = await self._waker.wait(self.intake.submit(delivery))
        except QueueFull as exc:
            retry = [(b"retry-after", str(exc.retry_after).encode())]
            full = "the queue is full: try again later"
            if getattr(exc, "pipeline", None) is not None:  # this pipeline's share is full
                full = "the queue holds this webhook's share of deliveries: try again later"
            return await self._refuse(send, "queue_full", 503, full, retry)
        except IntakeUnavailable as exc:
            why = ""
            if "reached its cap" in str(exc):  # said, as an operator looking at it needs it
                why = " (the disk is full, or the database reached its size cap)"
            return await self._refuse(
                send,
                "unavailable",
                503,
                f"the delivery could not be stored{why}: try again later",
            )
        self.metrics.intake_seconds.observe(time.perf_counter() - started)
        if accepted.duplicate:
            self.metrics.duplicates.labels(route.name).inc()
        else:
            self.metrics.deliveries.labels(route.name, "webhook").inc()
        if route.sync:
            return await self._sync(send, route, accepted.run_id, value), accepted.run_id
        answer: dict[str, Any] = {"run_id": accepted.run_id}
        if accepted.duplicate:
            answer["duplicate"] = True
        return await _answer(send, 200 if accepted.duplicate else 202, answer), accepted.run_id

    async def _sync(self, send: Send, route: Route, run_id: str, value: Any) -> int:
        deadline = time.monotonic() + route.timeout
        polls = 0
        while True:
            outcome = self.intake.outcome(run_id, 0)
            if outcome is not None:
                status, headers, body = sync_reply(route, run_id, outcome, value)
                if status == 500 and outcome.status == "succeeded":
                    self.log.error(f"{route.name}: {json.loads(body)['error']}", event="reply")
                # sync_reply let through Latin-1 text without control characters only.
                encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
                await _send(send, status, body, _JSON + encoded)
                return status
            left = deadline - time.monotonic()
            if left <= 0 or self.stopping:
                return await _answer(send, 202, {"run_id": run_id, "status": "running"})
            await asyncio.sleep(min(_POLLS[min(polls, len(_POLLS) - 1)], left))
            polls += 1

    async def _busy(self, send: Send) -> tuple[int, None]:
        retry = [(b"retry-after", b"1")]
        message = "the service is busy: try again later"
        return await self._refuse(send, "busy", 503, message, retry, close=True)

    async def _refuse(
        self,
        send: Send,
        reason: str,
        status: int,
        message: str,
        extra: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool = False,
    ) -> tuple[int, None]:
        self.metrics.refused.labels(reason).inc()
        headers = _JSON + (extra or [])
        if close:  # the rest of an unread body is not worth reading: end the connection
            headers = [*headers, (b"connection", b"close")]
        await _send(send, status, json.dumps({"error": message}).encode(), headers)
        return status, None


def _route_path(scope: Scope) -> str:
    """The path a route is looked up by: percent-escapes decoded except one that gives a
    '/' ('/hooks%2Fgh' is not '/hooks/gh', as a proxy in front would not take it to be)."""
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes) or b"%" not in raw:
        return str(scope["path"])
    parts = [unquote(part) for part in raw.decode("latin-1").split("/")]
    if any("/" in part for part in parts):
        return ""  # no route has this path
    return "/".join(parts)


def _repeated(route: Route, raw_headers: Any) -> str | None:
    """The first header this route reads (signature, token, delivery id, Content-Type,
    Content-Length, Content-Encoding) that the request sends more than once; else None."""
    names = [name for name, _ in raw_headers]
    for check in route.checks:
        if names.count(check.header.lower().encode("latin-1")) > 1:
            return check.header
    for name in (route.delivery_header, "content-type", "content-length", "content-encoding"):
        if name and names.count(name.encode("latin-1")) > 1:
            return name.title() if name != route.delivery_header else name
    return None


def _shown_path(scope: Scope) -> str:
    """The path as the client wrote it (still percent-encoded: a '%0A' in it cannot start a
    forged log line), cut at MAX_LOGGED_PATH characters."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope["path"])
    if not (text.isascii() and text.isprintable()) or " " in text:
        text = "".join(c if " " < c < "\x7f" else f"%{ord(c):02X}" for c in text)
    return text if len(text) <= MAX_LOGGED_PATH else text[:MAX_LOGGED_PATH] + "…"


class _OverBudget(Exception):
    """The bodies held in memory would pass MAX_BUFFERED: answer 503."""


class _Budget:
    """One request's share of MAX_BUFFERED: what its Content-Length promised, and what a
    body without one (chunked) takes as it comes."""

    def __init__(self, app: WebhookApp, promised: int) -> None:
        self.app = app
        self.promised = promised
        self.taken = 0
        app._buffered += promised

    def grow(self, size: int) -> None:
        extra = size - self.promised - self.taken
        if extra > 0:
            if self.app._buffered + extra > self.app.max_buffered:
                raise _OverBudget
            self.app._buffered += extra
            self.taken += extra

    def release(self) -> None:
        self.app._buffered -= self.promised + self.taken
        self.promised = self.taken = 0


async def _read_body(receive: Receive, limit: int, budget: _Budget) -> bytes | None:
    """The whole body, or None as soon as more than ``limit`` bytes came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise TimeoutError  # nobody to answer; treated like a stalled client
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        budget.grow(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(send: Send, status: int, value: Any) -> int:
    await _send(send, status, json.dumps(value).encode(), _JSON)
    return status


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
