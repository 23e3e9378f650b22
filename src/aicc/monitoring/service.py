"""The monitoring service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from aicc.monitoring.alert_views import AlertViews
from aicc.monitoring.dispatch import AlertDispatch
from aicc.monitoring.notify_channels import NotificationChannels
from aicc.monitoring.publishing import CloudWatchMixin
from aicc.monitoring.rules_service import RulesMixin
from aicc.monitoring.silencing import SilencesAndRouting


class MonitoringService(
    RulesMixin,
    NotificationChannels,
    SilencesAndRouting,
    AlertViews,
    AlertDispatch,
    CloudWatchMixin,
):
    """System, application, database and contact-center metrics, Prometheus exposition and
    alerting.

    Built from the spec's config dict (``database_url``, ``redis_url``, ``prometheus_port``,
    ``connect_instance_id``), ``await start()`` starts collection and, when the dict names a
    ``prometheus_port``, a Prometheus endpoint (``/metrics``, ``/health``) on that port. Under
    ``aicc up``/``aicc serve`` the service's own HTTP app serves those instead.
    """
