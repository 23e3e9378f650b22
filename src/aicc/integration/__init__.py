"""AICC Integration: CRM, ERP, payment, notification and social connectors."""

from aicc.integration.connectors.base import IntegrationType
from aicc.integration.schemas import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationOptions,
    MessageType,
)
from aicc.integration.service import IntegrationService

__all__ = [
    "IntegrationConfig",
    "IntegrationMessage",
    "IntegrationOptions",
    "IntegrationService",
    "IntegrationType",
    "MessageType",
]
