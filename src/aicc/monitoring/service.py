"""The monitoring service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from aicc.monitoring.base import MonitoringBase


class MonitoringService(MonitoringBase):
    """System, application, database and contact-center metrics, Prometheus exposition and
    alerting.

    Built from the spec's config dict (``database_url``, ``redis_url``, ``prometheus_port``,
    ``connect_instance_id``), ``await start()`` starts collection and, when the dict names a
    ``prometheus_port``, a Prometheus endpoint (``/metrics``, ``/health``) on that port. Under
    ``aicc up``/``aicc serve`` the service's own HTTP app serves those instead.
    """
