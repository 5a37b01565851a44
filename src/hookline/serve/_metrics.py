"""The service's metrics, in the Prometheus text format (prometheus_client), on the admin
listener only.

A registry of its own (not the library's global one): two services in one process (the
tests) do not share counters, and no default process collectors leak in by surprise.

Names (docs/serve.md#metrics):
- ``hookline_runs_total{pipeline,status}``: runs finished.
- ``hookline_run_duration_seconds{pipeline}``: how long runs took.
- ``hookline_queue_depth``: deliveries waiting, not yet started.
- ``hookline_intake_seconds``: from a webhook request's arrival to its durable commit.
- ``hookline_deliveries_total{pipeline,trigger}``: deliveries accepted (duplicates apart).
- ``hookline_deliveries_duplicate_total{pipeline}``: deliveries acknowledged as duplicates.
- ``hookline_deliveries_refused_total{reason}``: requests refused, by reason.
- ``hookline_http_requests_total{listener,code}``: every answer, by status code.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# Why each request may be refused: the reason label of hookline_deliveries_refused_total.
REFUSALS = (
    "not_found",
    "method",
    "too_large",
    "unauthorized",
    "content_type",
    "malformed",
    "schema",
    "queue_full",
    "unavailable",
    "stopping",
    "busy",
)

_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_INTAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Counters the HTTP layer, the worker pool and the scheduler update."""

    # The classic text format every Prometheus reads (what generate_latest writes).
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        # No *_created series: a timestamp per label set doubles the output for nothing a
        # dashboard reads (the service is the only user of prometheus_client here).
        disable_created_metrics()
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
        self.queue_depth = Gauge(
            "hookline_queue_depth", "Deliveries waiting in the queue, not yet started.",
            registry=r,
        )  # fmt: skip
        self.intake_seconds = Histogram(
            "hookline_intake_seconds",
            "From a webhook request's arrival to its durable commit (seconds).",
            buckets=_INTAKE_BUCKETS, registry=r,
        )  # fmt: skip
        self.deliveries = Counter(
            "hookline_deliveries", "Deliveries accepted, by pipeline and trigger.",
            ["pipeline", "trigger"], registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "hookline_deliveries_duplicate",
            "Deliveries acknowledged as duplicates of an earlier one (not run again).",
            ["pipeline"], registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "hookline_deliveries_refused", "Requests refused, by reason.", ["reason"],
            registry=r,
        )  # fmt: skip
        self.http = Counter(
            "hookline_http_requests", "Answers sent, by listener and status code.",
            ["listener", "code"], registry=r,
        )  # fmt: skip
        for reason in REFUSALS:  # shown at 0 from the start: alerts need the series
            self.refused.labels(reason)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth from ``depth()`` at each scrape."""
        self.queue_depth.set_function(lambda: float(depth()))

    def run_finished(self, pipeline: str, status: str, seconds: float) -> None:
        """Called by the worker pool when a run ends."""
        self.runs.labels(pipeline, status).inc()
        self.run_seconds.labels(pipeline).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
