"""The monitoring service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from typing import ClassVar

from aicc.core.service import Backend, ServiceBase


class MonitoringService(ServiceBase):
    """System, application, database and contact-center metrics,
    Prometheus exposition and alerting.
    """

    name = "monitoring"
    title = "AICC Monitoring"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")
