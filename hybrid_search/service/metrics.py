"""Prometheus metrics for one app instance (its own registry, so apps in one process never
collide). Labels never carry tenants, keys or query text, so `/metrics` can stay unauthenticated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "METHODS", "STAGES", "Metrics", "MetricsMiddleware"]

#: the timings_ms keys a search response may carry, each observed as one stage
STAGES = (
    "encode",
    "dense",
    "sparse",
    "bm25",
    "colbert",
    "hybrid_search",
    "fuse",
    "fetch",
    "rerank",
    "explain",
    "total",
)

#: seconds; searches on CPU take 10 ms to a few seconds, batch ingests up to minutes
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The service's metrics, bound to a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        histogram = partial(Histogram, registry=self.registry, buckets=_BUCKETS)
        http = ["endpoint", "method", "status"]
        self.requests = counter(
            "hybrid_search_http_requests",
            "HTTP requests by endpoint template, method and status.",
            http,
        )
        self.latency = histogram(
            "hybrid_search_http_request_duration_seconds",
            "HTTP request latency by endpoint template and status.",
            http,
        )
        self.stage_latency = histogram(
            "hybrid_search_stage_duration_seconds",
            "Search stage latency from the responses' timings_ms.",
            ["stage"],
        )
        self.in_flight = gauge(
            "hybrid_search_http_requests_in_flight", "HTTP requests being handled now."
        )
        self.errors = counter("hybrid_search_errors", "Error answers by error code.", ["code"])
        self.abandoned = counter(
            "hybrid_search_abandoned_work_seconds",
            "Worker-thread seconds spent on requests after their clients had left.",
        )
        self.jobs_running = gauge(
            "hybrid_search_jobs_running", "Model/Milvus jobs running in the worker pool."
        )
        self.jobs_waiting = gauge(
            "hybrid_search_jobs_waiting", "Model/Milvus jobs admitted and waiting for a worker."
        )

    def observe_timings(self, timings_ms: Mapping[str, float]) -> None:
        for stage in STAGES:
            ms = timings_ms.get(stage)
            if ms is not None:
                self.stage_latency.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


#: the only method label values; anything else a client sends is counted as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _endpoint(scope: Scope) -> str:
    """The route template (`/v1/documents/{doc_id:path}`), so ids never become label values; a
    request answered before routing (401 or 413 from the body guard, an unknown path) is
    "unmatched", whatever path the client sent."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Outermost middleware: counts and times every HTTP request, 413s and 500s included."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            if scope.get("state", {}).get("client_gone"):
                status = 499  # nginx's "client closed request": no answer was sent
            method = scope.get("method")
            labels = (_endpoint(scope), method if method in METHODS else "other", str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
