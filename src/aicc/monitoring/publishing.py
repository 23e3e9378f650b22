"""CloudWatch publishing: the spec's metrics of every service and the Amazon Connect gauges,
sent to ``AICC_CLOUDWATCH_NAMESPACE`` once per ``AICC_MONITORING_CLOUDWATCH_INTERVAL`` by one
replica (the periodic task ``monitoring.cloudwatch``), when ``AICC_CLOUDWATCH_ENABLED=true``.

The points come from this process's registry (``service=monitoring``), the last ``/metrics``
text scraped from each watched service (kept in the shared cache by whichever replica scraped
it, with a ``service`` dimension when the text has none), and the latest Connect snapshot
(published once per snapshot, stamped with its time). Counters, histogram sums and counts go
out as increments since the previous publication; the last totals (:class:`CounterDeltas`,
one per service) live in the cache, so the replica that publishes next continues the series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from aicc.core.jobs import JobContext, PeriodicTask
from aicc.monitoring.connect import (
    CloudWatchPublisher,
    CounterDeltas,
    MetricPoint,
    PublishReport,
    points_from_registry,
    points_from_snapshot,
)
from aicc.monitoring.connect.cloudwatch import MAX_DIMENSIONS
from aicc.monitoring.contact_center import ConnectMixin, iso
from aicc.monitoring.targets import TargetStatus

logger = logging.getLogger("aicc.monitoring.cloudwatch")

SCRAPED_KEY = "monitoring:cloudwatch:scraped"
STATE_KEY = "monitoring:cloudwatch:state"
TASK = "monitoring.cloudwatch"
OWN = "monitoring"


def with_service(points: Iterable[MetricPoint], service: str) -> list[MetricPoint]:
    """``points`` with a ``service`` dimension where they have none (and room for one)."""
    return [
        p
        if "service" in p.dimensions or len(p.dimensions) >= MAX_DIMENSIONS
        else replace(p, dimensions={**p.dimensions, "service": service})
        for p in points
    ]


class CloudWatchMixin(ConnectMixin):
    """Publishes to CloudWatch when ``settings.monitoring.cloudwatch_enabled``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scraped: dict[str, str] = {}

    @property
    def cloudwatch_enabled(self) -> bool:
        return self.settings.monitoring.cloudwatch_enabled

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        tasks = list(super().periodic_tasks())
        if self.cloudwatch_enabled:
            every = self.settings.monitoring.cloudwatch_interval
            tasks.append(PeriodicTask(TASK, every=every, run=self._cloudwatch_job, timeout=every))
        return tasks

    def on_scraped(self, service: str, text: str) -> None:
        super().on_scraped(service, text)
        if self.cloudwatch_enabled:
            self._scraped[service] = text

    async def scrape(self) -> list[TargetStatus]:
        self._scraped = {}
        statuses = await super().scrape()
        if self.cloudwatch_enabled and self._scraped:
            ttl = max(120.0, 4 * self.settings.monitoring.scrape_interval)
            await self.resources.cache.set(SCRAPED_KEY, orjson.dumps(self._scraped), ttl=ttl)
        return statuses

    async def _cloudwatch_job(self, _: JobContext) -> None:
        await self.publish_cloudwatch()

    async def _scraped_texts(self) -> dict[str, str]:
        raw = await self.resources.cache.get(SCRAPED_KEY)
        found = orjson.loads(raw) if raw is not None else self._scraped
        return {str(k): str(v) for k, v in found.items()}

    async def cloudwatch_points(
        self, state: dict[str, Any]
    ) -> tuple[list[MetricPoint], dict[str, Any]]:
        """The points of one publication and the state to keep once it is sent."""
        previous = state.get("deltas") or {}
        deltas: dict[str, CounterDeltas] = {}

        def counters(service: str) -> CounterDeltas:
            deltas[service] = CounterDeltas.from_dict(previous.get(service) or {})
            return deltas[service]

        self.system.refresh()
        points = with_service(
            points_from_registry(self.metrics.registry, deltas=counters(OWN)), OWN
        )
        for service, text in (await self._scraped_texts()).items():
            if service == OWN:
                continue
            try:
                families = list(text_string_to_metric_families(text))
                found = points_from_registry(families, deltas=counters(service))
            except Exception as exc:
                logger.warning("%s's /metrics text gives no points: %s", service, exc)
                deltas.pop(service, None)
                continue
            points += with_service(found, service)
        kept: dict[str, Any] = {"deltas": {k: d.to_dict() for k, d in deltas.items()}}
        kept["connect_taken_at"] = state.get("connect_taken_at")
        if self.connect_instance_id:
            snapshot = await self.latest_connect_snapshot()
            if snapshot is not None and snapshot.taken_at != state.get("connect_taken_at"):
                points += points_from_snapshot(snapshot)
                kept["connect_taken_at"] = snapshot.taken_at
        return points, kept

    async def publish_cloudwatch(self, now: float | None = None) -> dict[str, Any]:
        """Publish once; returns what was sent (``sent``, ``failed``, ``errors``, ...).

        Failures are reported, not raised. When nothing could be sent the counter totals are
        kept as they were, so the next publication's increments cover both periods."""
        now = time.time() if now is None else now
        cache = self.resources.cache
        raw = await cache.get(STATE_KEY)
        state: dict[str, Any] = orjson.loads(raw) if raw is not None else {}
        points, kept = await self.cloudwatch_points(state)
        aws = self.resources.aws
        publisher = CloudWatchPublisher(
            lambda: aws.client("cloudwatch"),
            self.settings.monitoring.cloudwatch_namespace,
            backoff=self.connect_backoff,
        )
        try:
            report = await publisher.publish(points, now=now)
        except Exception as exc:
            report = PublishReport(failed=len(points), errors=[type(exc).__name__])
        result = {"at": iso(now), "points": len(points), **report.to_dict()}
        if report.errors:
            logger.warning(
                "CloudWatch publication: %d of %d points failed (%s)",
                report.failed,
                len(points),
                ", ".join(sorted(set(report.errors))),
            )
        if report.sent or not report.failed:
            state = kept
        state["last"] = result
        ttl = max(3600.0, 10 * self.settings.monitoring.cloudwatch_interval)
        await cache.set(STATE_KEY, orjson.dumps(state), ttl=ttl)
        return result

    async def cloudwatch_status(self) -> dict[str, Any]:
        """Whether publishing is on, where to, and the last publication's result."""
        raw = await self.resources.cache.get(STATE_KEY)
        state = orjson.loads(raw) if raw is not None else {}
        return {
            "enabled": self.cloudwatch_enabled,
            "namespace": self.settings.monitoring.cloudwatch_namespace,
            "interval_seconds": self.settings.monitoring.cloudwatch_interval,
            "last": state.get("last"),
        }
