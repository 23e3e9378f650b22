"""Prometheus figures of the integration service.

The counter and the histogram count this process's calls; ``aicc_integration_breaker_state``
and ``aicc_integration_dead_letters`` describe shared state (read from the cache and the
database when ``/metrics`` is scraped, so every replica reports the same values).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class IntegrationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "aicc_integration_requests",
            "Calls to providers, by outcome (success, retryable, throttled, terminal, reauth, "
            "circuit_open, rate_limited)",
            ["integration", "provider", "method", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "aicc_integration_duration_seconds",
            "Time a provider took to answer one call",
            ["provider", "method"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.breaker_state = Gauge(
            "aicc_integration_breaker_state",
            "Circuit breaker per integration: 0 closed, 1 half-open, 2 open",
            ["integration"],
            registry=registry,
        )
        self.dead_letters = Gauge(
            "aicc_integration_dead_letters",
            "Messages that ran out of attempts or failed for good, waiting for replay",
            ["integration"],
            registry=registry,
        )
        self.needs_reauth = Gauge(
            "aicc_integration_needs_reauth",
            "1 when an integration's credentials were refused and must be replaced",
            ["integration"],
            registry=registry,
        )

    def count(self, integration: str, provider: str, method: str, outcome: str) -> None:
        self.requests.labels(integration, provider, method, outcome).inc()

    def observe(self, provider: str, method: str, seconds: float) -> None:
        self.duration.labels(provider, method).observe(seconds)

    def breaker(self, integration: str, state: int) -> None:
        self.breaker_state.labels(integration).set(state)

    def forget(self, integration: str) -> None:
        for gauge in (self.breaker_state, self.dead_letters, self.needs_reauth):
            with contextlib.suppress(KeyError):
                gauge.remove(integration)
