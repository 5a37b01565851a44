"""The admin listener: ``/healthz`` and ``/metrics``, never on the public port.

It is bound to 127.0.0.1 by default (``--admin-host``): metrics name every pipeline and
their failure counts, which a webhook sender has no business reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._app import Receive, Scope, Send, _lifespan, _send
from ._metrics import Metrics


class AdminApp:
    """ASGI app of the admin listener."""

    def __init__(self, metrics: Metrics, health: Callable[[], dict[str, Any]]) -> None:
        self.metrics = metrics
        self.health = health  # {"status": "ok" | "stopping", ...}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        json_type = [(b"content-type", b"application/json")]
        if path not in ("/healthz", "/metrics"):
            status = 404
            body = b'{"error": "not found: try /healthz or /metrics"}'
            await _send(send, status, body, json_type)
        elif method not in ("GET", "HEAD"):
            status = 405
            await _send(send, status, b'{"error": "use GET"}', [*json_type, (b"allow", b"GET")])
        elif path == "/healthz":
            report = self.health()
            status = 200 if report.get("status") == "ok" else 503
            await _send(send, status, json.dumps(report).encode(), json_type)
        else:
            status = 200
            metrics_type = [(b"content-type", self.metrics.content_type.encode())]
            await _send(send, status, self.metrics.render(), metrics_type)
        self.metrics.http.labels("admin", str(status)).inc()
