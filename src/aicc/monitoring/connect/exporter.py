"""The ``aicc_connect_*`` gauges of the latest Connect snapshot.

The gauges are built once per snapshot, not per scrape, and hold exactly the snapshot's
queues: a queue deleted or renamed in Connect leaves the exposition with the next update.
:meth:`ConnectMetrics.render` keeps the text exposition of the current snapshot, so a
``/metrics`` route can append it instead of re-rendering several thousand series per scrape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from aicc.monitoring.connect.snapshot import METRICS, METRICS_BY_NAME, Snapshot

QUEUE_LABELS = ["queue", "channel"]
AGENT_STATUS = "aicc_connect_agent_status"
INSTANCE_AGENT_STATUS = "aicc_connect_instance_agent_status"
QUEUES = "aicc_connect_queues"
LAST_POLL = "aicc_connect_last_poll_timestamp_seconds"


def _families(snapshot: Snapshot | None) -> list[Metric]:
    """The families of ``snapshot``; with None, each family empty (for ``describe``)."""
    metrics = snapshot.metrics if snapshot is not None else tuple(m.name for m in METRICS)
    families: list[Metric] = []
    names = queue_labels(snapshot) if snapshot is not None else {}
    for name in metrics:
        metric = METRICS_BY_NAME[name]
        family = GaugeMetricFamily(metric.gauge, metric.help, labels=QUEUE_LABELS)
        if snapshot is not None:
            for (queue_id, channel), row in snapshot.values.items():
                value = row.get(name)
                if value is not None and queue_id in names:
                    family.add_metric([names[queue_id], channel], value)
        families.append(family)
    per_queue = GaugeMetricFamily(
        AGENT_STATUS,
        "Agents able to take the queue's contacts, by activity (Available, On contact, "
        "After contact work, ... or a custom status)",
        labels=["queue", "status"],
    )
    overall = GaugeMetricFamily(
        INSTANCE_AGENT_STATUS,
        "Agents of the instance by activity, each agent counted once",
        labels=["status"],
    )
    queues = GaugeMetricFamily(QUEUES, "Queues polled in the latest Connect snapshot")
    last = GaugeMetricFamily(LAST_POLL, "When the latest Connect snapshot was taken")
    if snapshot is not None:
        for queue_id, states in (snapshot.agent_states or {}).items():
            if queue_id in names:
                for status, count in states.items():
                    per_queue.add_metric([names[queue_id], status], count)
        for status, count in (snapshot.instance_agent_states or {}).items():
            overall.add_metric([status], count)
        queues.add_metric([], len(snapshot.queues))
        last.add_metric([], snapshot.taken_at)
    return [*families, per_queue, overall, queues, last]


def queue_labels(snapshot: Snapshot) -> dict[str, str]:
    """The ``queue`` label of each queue id: its name, or ``name (id)`` when names repeat."""
    seen = Counter(q.name for q in snapshot.queues.values())
    return {
        q.id: q.name if seen[q.name] == 1 else f"{q.name} ({q.id})"
        for q in snapshot.queues.values()
    }


class ConnectMetrics(Collector):
    """The Connect gauges, registered once in ``registry`` (if given) and refreshed by
    :meth:`update` after each poll."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._families: list[Metric] = []
        self._text: bytes | None = None
        self._own = CollectorRegistry(auto_describe=False)
        self._own.register(self)
        if registry is not None:
            registry.register(self)

    def update(self, snapshot: Snapshot) -> None:
        self._families = _families(snapshot)
        self._text = None

    def clear(self) -> None:
        """No Connect series at all (Connect switched off, or the snapshot too old to show)."""
        self._families = []
        self._text = None

    def collect(self) -> Iterator[Metric]:
        yield from self._families

    def describe(self) -> Iterable[Metric]:
        return _families(None)

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of the current gauges."""
        if self._text is None:
            self._text = generate_latest(self._own)
        return self._text
