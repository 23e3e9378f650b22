"""CloudWatch points from a Connect snapshot and from Prometheus metrics.

Every distinct name × dimensions is one CloudWatch custom metric, billed monthly: 100 queues ×
3 channels × 13 Connect metrics are 3,900 of them, so choose ``names`` to publish what alarms
and dashboards use.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client.metrics_core import Metric

from aicc.monitoring.connect.cloudwatch import MetricPoint
from aicc.monitoring.connect.exporter import (
    AGENT_STATUS,
    INSTANCE_AGENT_STATUS,
    queue_labels,
)
from aicc.monitoring.connect.snapshot import METRICS_BY_NAME, Snapshot

SPEC_METRIC_NAMES = (
    "system_cpu_usage_percent",
    "system_memory_usage_percent",
    "system_disk_usage_percent",
    "aicc_active_sessions_total",
    "aicc_api_requests_total",
    "aicc_api_duration_seconds",
    "aicc_db_connections_active",
    "aicc_db_query_duration_seconds",
)
"""The spec's metric names, as ``points_from_registry`` takes them."""


class _Collects(Protocol):
    def collect(self) -> Iterable[Metric]: ...


def points_from_snapshot(
    snapshot: Snapshot,
    *,
    names: Collection[str] | None = None,
    dimensions: Mapping[str, str] | None = None,
) -> list[MetricPoint]:
    """The snapshot's gauges as points named like the Prometheus gauges, with dimensions
    ``queue`` and ``channel`` (``queue`` and ``status`` for agent states) plus
    ``dimensions`` (e.g. ``{"instance": ...}``), stamped with the snapshot's time.
    ``names`` limits them to these gauge names."""
    extra = dict(dimensions or {})
    labels = queue_labels(snapshot)
    points: list[MetricPoint] = []
    for metric_name in snapshot.metrics:
        metric = METRICS_BY_NAME[metric_name]
        if names is not None and metric.gauge not in names:
            continue
        unit = "Seconds" if metric.unit == "SECONDS" else "Count"
        for (queue_id, channel), row in snapshot.values.items():
            value = row.get(metric_name)
            if value is not None and queue_id in labels:
                where = {"queue": labels[queue_id], "channel": channel, **extra}
                points.append(MetricPoint(metric.gauge, value, unit, where, snapshot.taken_at))
    if names is None or AGENT_STATUS in names:
        for queue_id, states in (snapshot.agent_states or {}).items():
            if queue_id in labels:
                for status, count in states.items():
                    where = {"queue": labels[queue_id], "status": status, **extra}
                    points.append(
                        MetricPoint(AGENT_STATUS, count, "Count", where, snapshot.taken_at)
                    )
    if names is None or INSTANCE_AGENT_STATUS in names:
        for status, count in (snapshot.instance_agent_states or {}).items():
            points.append(
                MetricPoint(
                    INSTANCE_AGENT_STATUS,
                    count,
                    "Count",
                    {"status": status, **extra},
                    snapshot.taken_at,
                )
            )
    return points


class CounterDeltas:
    """The last cumulative value of each counter series, to publish increments.

    Plain data (:meth:`to_dict` / :meth:`from_dict`), so whoever publishes can keep it with
    the deployment's other state. A series seen for the first time gives no point (its total
    so far is not an increment of this period); a value below the last one is a reset, and
    the new value is the increment.
    """

    def __init__(self, last: Mapping[str, float] | None = None) -> None:
        self.last: dict[str, float] = dict(last or {})

    def advance(self, current: Mapping[str, float]) -> dict[str, float]:
        """Increments since the last call for the series in ``current``; series missing from
        ``current`` are forgotten."""
        increments: dict[str, float] = {}
        for key, value in current.items():
            before = self.last.get(key)
            if before is not None:
                increments[key] = value - before if value >= before else value
        self.last = dict(current)
        return increments

    def to_dict(self) -> dict[str, Any]:
        return {"last": dict(self.last)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CounterDeltas:
        return cls({str(k): float(v) for k, v in (data.get("last") or {}).items()})


def _unit(family: str, sample: str) -> str:
    if sample.endswith(("_count", "_total")) and sample != family:
        return "Count"
    if family.endswith("_percent"):
        return "Percent"
    if family.endswith("_seconds"):
        return "Seconds"
    if family.endswith("_bytes"):
        return "Bytes"
    if family.endswith("_total"):
        return "Count"
    return "None"


def _wanted(family: Metric, names: Collection[str]) -> tuple[str, ...]:
    """The sample names of ``family`` to publish, when the family is one of ``names``."""
    base = family.name
    if family.type == "counter":
        total = base + "_total"
        return (total,) if base in names or total in names else ()
    if base not in names:
        return ()
    if family.type in ("histogram", "gaugehistogram", "summary"):
        return (base + "_sum", base + "_count")
    return (base,)


def points_from_registry(
    source: _Collects | Iterable[Metric],
    names: Collection[str] = SPEC_METRIC_NAMES,
    *,
    timestamp: float | None = None,
    deltas: CounterDeltas | None = None,
) -> list[MetricPoint]:
    """Points of the metric families named in ``names``, from a registry (anything with
    ``collect()``) or parsed families (``text_string_to_metric_families`` of a scrape).

    Gauges give their value; counters their ``_total``; histograms and summaries their
    ``_sum`` and ``_count`` (bucket and quantile series are not published). Labels become
    dimensions; an empty label is no label, as in Prometheus. With ``deltas`` the counters,
    sums and counts are the increments since the previous call (otherwise cumulative:
    CloudWatch metric math ``RATE()``/``DIFF()`` reads those)."""
    families = source.collect() if hasattr(source, "collect") else source
    gauges: list[MetricPoint] = []
    cumulative: dict[str, tuple[str, str, dict[str, str], float]] = {}
    for family in families:
        samples = _wanted(family, names)
        if not samples:
            continue
        for sample in family.samples:
            if sample.name not in samples:
                continue
            labels = {k: v for k, v in sample.labels.items() if v != ""}
            unit = _unit(family.name, sample.name)
            if family.type in ("gauge", "unknown", "untyped", "info", "stateset"):
                gauges.append(MetricPoint(sample.name, sample.value, unit, labels, timestamp))
                continue
            key = json.dumps([sample.name, sorted(labels.items())], ensure_ascii=False)
            cumulative[key] = (sample.name, unit, labels, float(sample.value))
    if deltas is None:
        values = {key: entry[3] for key, entry in cumulative.items()}
    else:
        values = deltas.advance({key: entry[3] for key, entry in cumulative.items()})
    points = list(gauges)
    for key, value in values.items():
        name, unit, labels, _ = cumulative[key]
        points.append(MetricPoint(name, value, unit, labels, timestamp))
    return points
