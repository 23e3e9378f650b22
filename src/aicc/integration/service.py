"""The integration service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from collections.abc import Iterable

from aicc.core.jobs import JobHandler
from aicc.integration.delivery import DELIVER_KIND
from aicc.integration.webhooks import WebhookMixin


class IntegrationService(WebhookMixin):
    """CRM, ERP, payment, notification and social connectors with OAuth2, retries, circuit
    breakers and durable delivery."""

    def job_handlers(self) -> Iterable[JobHandler]:
        return [
            JobHandler(
                DELIVER_KIND,
                self.deliver_job,
                timeout=max(30.0, self.settings.integration.sync_timeout * 3),
                backoff_base=self.settings.integration.backoff_base,
                backoff_max=self.settings.integration.backoff_max,
            )
        ]
