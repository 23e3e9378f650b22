"""Amazon Connect real-time metrics (poller, ``aicc_connect_*`` gauges) and CloudWatch
publishing."""

from aicc.monitoring.connect.cloudwatch import CloudWatchPublisher, MetricPoint, PublishReport
from aicc.monitoring.connect.exporter import ConnectMetrics
from aicc.monitoring.connect.points import (
    SPEC_METRIC_NAMES,
    CounterDeltas,
    points_from_registry,
    points_from_snapshot,
)
from aicc.monitoring.connect.poller import ConnectError, ConnectPoller
from aicc.monitoring.connect.retry import Backoff
from aicc.monitoring.connect.snapshot import METRICS, ConnectMetric, QueueInfo, Snapshot

__all__ = [
    "METRICS",
    "SPEC_METRIC_NAMES",
    "Backoff",
    "CloudWatchPublisher",
    "ConnectError",
    "ConnectMetric",
    "ConnectMetrics",
    "ConnectPoller",
    "CounterDeltas",
    "MetricPoint",
    "PublishReport",
    "QueueInfo",
    "Snapshot",
    "points_from_registry",
    "points_from_snapshot",
]
