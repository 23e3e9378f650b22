"""Just enough of the Prometheus text format to read the figures the overview shows."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
NOT_TRAFFIC = frozenset({"/health", "/health/ready", "/metrics"})
"""Routes left out of request rate, error rate and latency: probes and scrapes (the
console's own among them), not the traffic an operator watches."""


def samples(text: str, names: Collection[str]) -> Iterator[tuple[str, dict[str, str], float]]:
    """``(name, labels, value)`` of every sample whose name is in ``names``."""
    prefixes = tuple(names)
    for line in text.splitlines():
        if not line.startswith(prefixes):
            continue
        match = _SAMPLE.match(line)
        if match is None or match[1] not in names:
            continue
        try:
            value = float(match[3])
        except ValueError:
            continue
        labels = {
            k: v.replace('\\"', '"').replace("\\\\", "\\")
            for k, v in _LABEL.findall(match[2] or "")
        }
        yield match[1], labels, value


@dataclass
class Traffic:
    """One service's request counters at one scrape (cumulative, as exported)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[str, float] = field(default_factory=dict)
    """``le`` bound (as text, ``+Inf`` included) → cumulative count."""

    @classmethod
    def read(cls, text: str) -> Traffic:
        traffic = cls()
        wanted = ("aicc_api_requests_total", "aicc_api_duration_seconds_bucket")
        for name, labels, value in samples(text, wanted):
            if labels.get("route") in NOT_TRAFFIC:
                continue
            if name == "aicc_api_requests_total":
                traffic.requests += value
                if labels.get("status", "").startswith("5"):
                    traffic.errors += value
            elif "le" in labels:
                traffic.buckets[labels["le"]] = traffic.buckets.get(labels["le"], 0.0) + value
        return traffic

    def since(self, before: Traffic) -> Traffic:
        """What happened between two scrapes (a counter that went down was reset)."""
        return Traffic(
            requests=_delta(self.requests, before.requests),
            errors=_delta(self.errors, before.errors),
            buckets={
                le: _delta(count, before.buckets.get(le, 0.0)) for le, count in self.buckets.items()
            },
        )

    def add(self, other: Traffic) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for le, count in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + count


def _delta(now: float, before: float) -> float:
    return now - before if now >= before else now


def quantile(q: float, buckets: dict[str, float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative buckets; None without data."""
    bounds = sorted((float(le), count) for le, count in buckets.items())
    if not bounds or not math.isinf(bounds[-1][0]):
        return None
    total = bounds[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in bounds:
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the open-ended bucket: the highest finite bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass
class Machine:
    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None


def machine(text: str) -> Machine:
    found = Machine()
    wanted = (
        "system_cpu_usage_percent",
        "system_memory_usage_percent",
        "system_disk_usage_percent",
    )
    for name, _, value in samples(text, wanted):
        if name == "system_cpu_usage_percent":
            found.cpu = value
        elif name == "system_memory_usage_percent":
            found.memory = value
        else:
            found.disk = max(found.disk or 0.0, value)
    return found


def contact_center(text: str) -> dict[str, float] | None:
    """Amazon Connect totals from the ``aicc_connect_*`` gauges; None when there are none."""
    wanted = (
        "aicc_connect_queues",
        "aicc_connect_contacts_in_queue",
        "aicc_connect_oldest_contact_age_seconds",
        "aicc_connect_instance_agent_status",
    )
    totals: dict[str, float] = {}
    seen = False
    for name, labels, value in samples(text, wanted):
        seen = True
        if name == "aicc_connect_queues":
            totals["queues"] = value
        elif name == "aicc_connect_contacts_in_queue":
            totals["in_queue"] = totals.get("in_queue", 0.0) + value
        elif name == "aicc_connect_oldest_contact_age_seconds":
            totals["oldest_age"] = max(totals.get("oldest_age", 0.0), value)
        else:
            totals["agents"] = totals.get("agents", 0.0) + value
            if labels.get("status", "").lower() == "available":
                totals["available"] = totals.get("available", 0.0) + value
    return totals if seen else None
