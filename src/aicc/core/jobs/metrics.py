"""Prometheus figures of one service's jobs.

``aicc_jobs_queued``, ``aicc_jobs_dead`` and ``aicc_job_lag_seconds`` describe the shared
queue (every replica reports the same values; aggregate with ``max``); the counter and the
histogram count what this process ran.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

JOB_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queued = Gauge(
            "aicc_jobs_queued",
            "Jobs waiting to run (due, scheduled or waiting for a retry)",
            ["kind"],
            registry=registry,
        )
        self.processed = Counter(
            "aicc_jobs_processed",
            "Job attempts finished by this process, by outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "aicc_job_duration_seconds",
            "Time one job attempt took",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.dead = Gauge(
            "aicc_jobs_dead", "Jobs that stopped being retried", ["kind"], registry=registry
        )
        self.lag = Gauge(
            "aicc_job_lag_seconds",
            "Age of the oldest job that is due and not yet started (0 when none)",
            ["kind"],
            registry=registry,
        )

    def finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.processed.labels(kind, outcome).inc()
        self.duration.labels(kind).observe(seconds)

    def queue(
        self, kind: str, queued: int, dead: int, oldest_due: datetime | None, now: datetime
    ) -> None:
        self.queued.labels(kind).set(queued)
        self.dead.labels(kind).set(dead)
        lag = (now - oldest_due).total_seconds() if oldest_due else 0.0
        self.lag.labels(kind).set(max(0.0, lag))
