"""``GET /metrics``: Prometheus metrics, in the text format any Prometheus scrapes.

What is measured, and where:

* ``polymodal_requests_total{route, method, status}`` and
  ``polymodal_request_seconds{route, method}`` (a histogram): every HTTP request, by the
  route's template (an unknown path counts as ``unmatched``, so a scanner cannot blow up the
  label set), timed from its first byte to its last, 429s and 401s included.
* ``polymodal_family_requests{family}`` (admitted: being served or waiting),
  ``polymodal_family_queued{family}`` (waiting for a worker), ``polymodal_family_workers`` and
  ``polymodal_family_capacity``: each family pool, read at scrape time.
* ``polymodal_batch_size{family}``: a histogram fed by :func:`observe_batch`, which the
  dynamic batcher calls with each batch it runs (one process-wide series, since a batcher has
  no app at hand).
* ``polymodal_model_memory_mb{name, family}``, ``polymodal_model_load_seconds{name, family}``
  and ``polymodal_resident_models``: the catalogue's resident models
  (:func:`polymodal.resident_models`), read at scrape time.

Each app has its own registry (two apps in one process, as the tests run them, never share
counters); the batch histogram is the process's and appears in every app's output. With an
API key set, ``/metrics`` needs it like every route but ``/healthz``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import polymodal

ASGIApp = Callable[..., Any]

_PROCESS = CollectorRegistry(auto_describe=True)
_BATCH_SIZES = Histogram(
    "polymodal_batch_size",
    "Inputs in each batch the dynamic batcher ran, by family.",
    ["family"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=_PROCESS,
)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def observe_batch(family: str, size: int) -> None:
    """Count one batch of ``size`` inputs run for ``family`` (``embedding``, ``speech``)."""
    _BATCH_SIZES.labels(family=family).observe(size)


class _Process(Collector):
    """The process-wide series (batch sizes), added to each app's registry."""

    def collect(self) -> Iterator[Any]:
        yield from _PROCESS.collect()


class _State(Collector):
    """Family pools and resident models, read when Prometheus scrapes."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        yield from self._pools()
        yield from self._models()

    def _pools(self) -> Iterator[GaugeMetricFamily]:
        kinds = {
            "requests": "Requests of the family being served or waiting now.",
            "queued": "Requests of the family waiting for a worker now.",
            "workers": "Worker threads of the family.",
            "capacity": "Requests the family admits at once before answering 429.",
        }
        gauges = {
            kind: GaugeMetricFamily(f"polymodal_family_{kind}", text, labels=["family"])
            for kind, text in kinds.items()
        }
        for pool in self.state.pools():
            values = {
                "requests": pool.admitted,
                "queued": max(0, pool.admitted - pool.limits.workers),
                "workers": pool.limits.workers,
                "capacity": pool.limits.capacity,
            }
            for kind, value in values.items():
                gauges[kind].add_metric([pool.name], value)
        yield from gauges.values()

    def _models(self) -> Iterator[GaugeMetricFamily]:
        records = polymodal.resident_models()
        memory = GaugeMetricFamily(
            "polymodal_model_memory_mb",
            "Memory a resident model holds, in MB (as the catalogue measured or estimated it).",
            labels=["name", "family"],
        )
        load = GaugeMetricFamily(
            "polymodal_model_load_seconds",
            "How long a resident model took to load.",
            labels=["name", "family"],
        )
        for record in records:
            memory.add_metric([record.name, record.family], record.memory_mb)
            load.add_metric([record.name, record.family], getattr(record, "load_seconds", 0.0))
        count = GaugeMetricFamily("polymodal_resident_models", "Models resident now.")
        count.add_metric([], len(records))
        yield from (memory, load, count)


class Metrics:
    """One app's registry: request counts and latencies, and the scrape-time collectors."""

    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "polymodal_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "polymodal_request_seconds",
            "Time from a request's first byte to its response's last, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_State(state))
        self.registry.register(_Process())

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route, method=method).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware timing every HTTP request and counting it by route and status.

    Outermost but for the key check's own answers, which it counts too (it sits outside
    :class:`~polymodal.server.security.BearerAuth`): 401s are worth seeing on a dashboard.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def counted_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)


router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, family queues, batch sizes, resident models
    and their memory and load times (text exposition format)."""
    registry: Metrics = request.app.state.polymodal_metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
