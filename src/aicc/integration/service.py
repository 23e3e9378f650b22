"""The integration service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from typing import ClassVar

from aicc.core.service import Backend, ServiceBase


class IntegrationService(ServiceBase):
    """CRM, payment, notification and social connectors
    with OAuth2, retries, circuit breakers and durable delivery.
    """

    name = "integration"
    title = "AICC Integration"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")
