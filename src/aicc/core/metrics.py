"""Prometheus metrics: one registry per service app, with the spec's metric names."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"


class DatabaseMetrics:
    """Pool and query figures of one engine; collected by every registry that uses it."""

    def __init__(self) -> None:
        self.connections_active = Gauge(
            "aicc_db_connections_active",
            "Database connections checked out of the pool",
            registry=None,
        )
        self.query_duration = Histogram(
            "aicc_db_query_duration_seconds",
            "Time spent executing one database statement",
            buckets=LATENCY_BUCKETS,
            registry=None,
        )

    def collect(self) -> Iterator[Metric]:
        yield from self.connections_active.collect()
        yield from self.query_duration.collect()


class _Delegate(Collector):
    """Collects a source looked up at scrape time (the database opens after the app is built)."""

    def __init__(self, source: Callable[[], DatabaseMetrics | None]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        current = self.source()
        if current is not None:
            yield from current.collect()

    def describe(self) -> Iterable[Metric]:
        return ()


class AppMetrics:
    """The request metrics of one service, plus process metrics and any shared collectors."""

    def __init__(
        self, service: str, *, database: Callable[[], DatabaseMetrics | None] | None = None
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        if database is not None:
            self.registry.register(_Delegate(database))
        self.requests = Counter(
            "aicc_api_requests",
            "HTTP requests handled, by route template and status",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aicc_api_duration_seconds",
            "HTTP request duration, by route template",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(self.service, method, route, str(status)),
                self.duration.labels(self.service, method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
