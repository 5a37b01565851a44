"""A worker's admin listener: ``/healthz`` and ``/metrics``, bound to 127.0.0.1 by default
(``--admin-host``, ``--admin-port`` 8082).

``/healthz`` answers 200 while the worker can work: connected to the broker, the
database answering, the consumer taking tasks; otherwise 503 with the reason, so that an
orchestrator stops sending it traffic or restarts it. ``/metrics`` is the Prometheus text
format, a registry of the worker's own (docs/deploy.md):

- ``hookline_runs_total{pipeline,status}``: runs this worker finished;
- ``hookline_run_duration_seconds{pipeline}``: how long they took;
- ``hookline_runs_in_flight``: runs under way in this worker;
- ``hookline_redeliveries_total``: deliveries run again after their run was cut short
  (a worker that died or was stopped, a message the broker delivered again);
- ``hookline_lease_takeovers_total``: deliveries taken from a worker whose lease expired;
- ``hookline_queue_depth``: deliveries waiting, read from the database at each scrape;
- ``hookline_http_requests_total{listener,code}``: answers of this listener.

The listener is uvicorn (``serve._server``), in a thread of its own: the main thread
belongs to the Celery worker.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from ..serve._app import Receive, Scope, Send, _lifespan, _send
from ..serve._metrics import Metrics
from ..serve._server import make_server, new_loop

__all__ = ["AdminListener", "WorkerAdmin", "WorkerMetrics"]

_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class WorkerMetrics:
    """The worker's counters; the task runner updates them."""

    content_type = Metrics.content_type

    def __init__(self) -> None:
        disable_created_metrics()  # as serve's: no *_created series
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "hookline_runs", "Runs finished, by pipeline and status.", ["pipeline", "status"],
            registry=r,
        )  # fmt: skip
        self.run_seconds = Histogram(
            "hookline_run_duration_seconds", "How long runs took, by pipeline.", ["pipeline"],
            buckets=_RUN_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "hookline_runs_in_flight", "Runs under way in this worker.", registry=r
        )
        self.redeliveries = Counter(
            "hookline_redeliveries",
            "Deliveries run again after their run was cut short (a worker died or stopped, "
            "the broker delivered the message again).",
            registry=r,
        )
        self.takeovers = Counter(
            "hookline_lease_takeovers",
            "Deliveries taken from a worker whose lease expired.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "hookline_queue_depth", "Deliveries waiting in the queue, not yet started.",
            registry=r,
        )  # fmt: skip
        self.http = Counter(
            "hookline_http_requests", "Answers sent, by listener and status code.",
            ["listener", "code"], registry=r,
        )  # fmt: skip

    def watch(self, in_flight: Callable[[], int], depth: Callable[[], int]) -> None:
        """Read runs in flight and the queue depth at each scrape. A depth that cannot be
        read (the database is down) is shown as NaN, not as an error of the scrape."""

        def read_depth() -> float:
            try:
                return float(depth())
            except Exception:
                return float("nan")

        self.in_flight.set_function(lambda: float(in_flight()))
        self.queue_depth.set_function(read_depth)

    def run_finished(self, pipeline: str, status: str, seconds: float) -> None:
        self.runs.labels(pipeline, status).inc()
        self.run_seconds.labels(pipeline).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class WorkerAdmin:
    """ASGI app: ``/healthz`` from ``health()`` ({"status": "ok", ...}: 200, any other
    status: 503), ``/metrics`` from ``metrics``."""

    def __init__(self, metrics: WorkerMetrics, health: Callable[[], dict[str, Any]]) -> None:
        self.metrics = metrics
        self.health = health

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
            await _send(
                send, status, b'{"error": "not found: try /healthz or /metrics"}', json_type
            )
        elif method not in ("GET", "HEAD"):
            status = 405
            await _send(send, status, b'{"error": "use GET"}', [*json_type, (b"allow", b"GET")])
        elif path == "/healthz":
            # The checks may wait on the network (the database): not on the event loop.
            report = await asyncio.get_running_loop().run_in_executor(None, self.health)
            status = 200 if report.get("status") == "ok" else 503
            await _send(send, status, json.dumps(report).encode(), json_type)
        else:
            status = 200
            body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.render)
            await _send(send, status, body, [(b"content-type", self.metrics.content_type.encode())])
        self.metrics.http.labels("admin", str(status)).inc()


class AdminListener:
    """The admin app served on an already bound socket, in a thread of its own."""

    def __init__(self, app: WorkerAdmin, sock: Any) -> None:
        self.sock = sock
        self.server = make_server(app, sock, grace=1.0)
        self._thread = threading.Thread(target=self._serve, name="hookline-admin", daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        loop = new_loop()
        try:
            loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            loop.close()

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
