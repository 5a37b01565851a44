"""The public listener: a raw ASGI app that takes webhook deliveries (no framework).

Order of the checks, cheapest and least trusting first: path (404), method (405), size
by Content-Length (413, before a byte of the body is read), the body read with a count
(413 for a chunked one past the limit) and a deadline (408), signature or token (401:
nothing stored, nothing run), media type (415), parse (400), input_schema (422), then the
durable commit (202, or 503 when the queue is full or the store cannot commit). Only
after the commit does a 2xx go out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._log import RunLog
from ._metrics import Metrics
from ._queue import Delivery, Intake, IntakeUnavailable, QueueFull
from ._waker import Waker
from ._webhook_auth import Refused, verify
from ._webhook_body import BodyRefused, check_schema, parse_body
from ._webhook_route import Route, sync_reply

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

BODY_TIMEOUT = 30.0
"""Seconds a client has to send the whole body; a stalled one is answered 408."""
MAX_LOGGED_PATH = 200
"""The longest path written to the access log; a longer one is cut."""
MAX_DELIVERY_KEY = 200
"""The longest delivery id (``delivery_header``) accepted; GitHub's are 36 characters."""
# Sync replies look for their run's outcome this often (seconds), growing to the last.
_POLLS = (0.005, 0.01, 0.02, 0.05, 0.1)

_JSON = [(b"content-type", b"application/json")]


class WebhookApp:
    """ASGI app of the public listener. ``routes`` is swapped whole on a reload."""

    def __init__(
        self, intake: Intake, metrics: Metrics, log: RunLog, *, body_timeout: float = BODY_TIMEOUT
    ) -> None:
        self.intake = intake
        self.body_timeout = body_timeout
        self.metrics = metrics
        self.log = log
        self.routes: dict[str, dict[str, Route]] = {}  # path → method → route
        self._waker = Waker()
        # Metric children by label, looked up once: labels() takes a lock and builds a key.
        self._answers: dict[int, Any] = {}
        self.stopping = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not served
        started = time.perf_counter()
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
        methods = self.routes.get(scope["path"])
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
        too_large = f"the body is larger than {route.max_body} bytes, the limit of this webhook"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > route.max_body):
            return await self._refuse(send, "too_large", 413, too_large, close=True)
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read_body(receive, route.max_body)
        except TimeoutError:
            message = f"the body did not arrive within {self.body_timeout:g}s"
            return await self._refuse(send, "malformed", 408, message, close=True)
        if body is None:
            return await self._refuse(send, "too_large", 413, too_large, close=True)
        try:
            verify(route.checks, headers, body)
        except Refused as exc:
            return await self._refuse(send, "unauthorized", 401, str(exc))
        try:
            value, text = parse_body(headers.get("content-type"), body)
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
            return await self._refuse(
                send, "queue_full", 503, "the queue is full: try again later", retry
            )
        except IntakeUnavailable:
            return await self._refuse(
                send, "unavailable", 503, "the delivery could not be stored: try again later"
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
                encoded = [
                    (k.lower().encode("latin-1"), v.encode("latin-1", "replace"))
                    for k, v in headers
                ]
                await _send(send, status, body, _JSON + encoded)
                return status
            left = deadline - time.monotonic()
            if left <= 0 or self.stopping:
                return await _answer(send, 202, {"run_id": run_id, "status": "running"})
            await asyncio.sleep(min(_POLLS[min(polls, len(_POLLS) - 1)], left))
            polls += 1

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


def _shown_path(scope: Scope) -> str:
    """The path as the client wrote it (still percent-encoded: a '%0A' in it cannot start a
    forged log line), cut at MAX_LOGGED_PATH characters."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope["path"])
    if not (text.isascii() and text.isprintable()) or " " in text:
        text = "".join(c if " " < c < "\x7f" else f"%{ord(c):02X}" for c in text)
    return text if len(text) <= MAX_LOGGED_PATH else text[:MAX_LOGGED_PATH] + "…"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
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
