"""AICC Monitoring."""

from aicc.monitoring.service import MonitoringService

__all__ = ["MonitoringService"]
