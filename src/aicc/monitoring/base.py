"""State and helpers every part of the monitoring facade shares: system metrics, the watched
services, the Prometheus endpoint of the Python API.

The facade ``MonitoringService`` is assembled from mixins (rules and evaluation, notification,
Amazon Connect), all built on this base.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from aicc.core.config import Settings
from aicc.core.jobs import JobContext, PeriodicTask
from aicc.core.resources import Resources
from aicc.core.service import Backend, ServiceBase
from aicc.monitoring.exposition import MetricsServer
from aicc.monitoring.system import SystemMetrics
from aicc.monitoring.targets import (
    Scraper,
    Target,
    TargetStatus,
    load_statuses,
    resolve_targets,
    save_statuses,
)


class MonitoringBase(ServiceBase):
    """The parts of the monitoring service every mixin uses."""

    name = "monitoring"
    title = "AICC Monitoring"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
        resources: Resources | None = None,
        serve_metrics: bool | None = None,
    ) -> None:
        super().__init__(config, settings=settings, resources=resources)
        self.serve_metrics = (
            serve_metrics if serve_metrics is not None else "prometheus_port" in (config or {})
        )
        self._system: SystemMetrics | None = None
        self._scraper: Scraper | None = None
        self._targets: list[Target] = []
        self._metrics_server: MetricsServer | None = None

    @property
    def system(self) -> SystemMetrics:
        if self._system is None:
            settings = self.settings
            paths: list[Path | str] = [settings.data_dir, *settings.monitoring.disk_paths]
            self._system = SystemMetrics(self.metrics.registry, paths)
        return self._system

    @property
    def targets(self) -> list[Target]:
        return list(self._targets)

    async def on_start(self) -> None:
        self.system.refresh()
        self._targets = resolve_targets(self.settings)
        self._scraper = Scraper(self.http, self.settings.monitoring.scrape_timeout)
        if self.serve_metrics:
            self._metrics_server = MetricsServer(self, port=self.settings.server.monitoring_port)
            await self._metrics_server.start()

    async def on_stop(self) -> None:
        if self._metrics_server is not None:
            await self._metrics_server.stop()
            self._metrics_server = None
        self._scraper = None

    async def refresh_metrics(self) -> None:
        self.system.refresh()

    def metrics_token(self) -> str | None:
        token = self.settings.monitoring.metrics_token
        return token.get_secret_value() if token else None

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        every = self.settings.monitoring.scrape_interval
        return [PeriodicTask("monitoring.scrape", every=every, run=self._scrape_job)]

    async def _scrape_job(self, _: JobContext) -> None:
        await self.scrape()

    async def scrape(self) -> list[TargetStatus]:
        """Scrape every watched service once and publish their status to all replicas; each
        exposition text goes to :meth:`on_scraped`."""
        scraper = self.require_started(self._scraper)
        results = await asyncio.gather(*(scraper.scrape(t) for t in self._targets))
        statuses = [status for status, _ in results]
        ttl = max(60.0, 10 * self.settings.monitoring.scrape_interval)
        await save_statuses(self.resources.cache, statuses, ttl)
        for status, text in results:
            if text is not None:
                self.on_scraped(status.name, text)
        return statuses

    def on_scraped(self, service: str, text: str) -> None:
        """Hook: a watched service's ``/metrics`` text, just scraped (for rule evaluation)."""

    async def dispatch_alerts(
        self,
        alerts: list[Any],
        extra_receivers: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Hook: alerts (Alertmanager ``Alert`` objects) to route, group, silence and notify;
        ``extra_receivers`` maps an alert's fingerprint to the ``channels`` of the rule that
        raised it. The notification mixin (``dispatch.AlertDispatch``) implements it."""

    async def services_health(self) -> dict[str, Any]:
        """Each watched service's last scrape, readiness and backends, plus this service."""
        own = await self.readiness()
        return {
            "monitoring": {"up": True, "ready": own["ready"], "checks": own["checks"]},
            "services": await load_statuses(self.resources.cache),
        }

    def system_metrics(self) -> dict[str, float]:
        """CPU, memory and disk now, under the spec's names."""
        return self.system.refresh()
