"""AICC Integration."""

from aicc.integration.service import IntegrationService

__all__ = ["IntegrationService"]
