"""Notifications as the alerting side hands them over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aicc.monitoring.channels import AlertItem, Notification
from aicc.monitoring.channels.notification import Status

STARTED = datetime(2026, 11, 26, 18, 0, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 26, 18, 7, 30, 250000, tzinfo=UTC)
GROUP_KEY = '{}/{severity="critical"}:{alertname="HighCPU"}'


def alert(
    instance: str = "mon-1",
    *,
    status: Status = "firing",
    name: str = "HighCPU",
    severity: str = "critical",
    **annotations: str,
) -> AlertItem:
    return AlertItem(
        status=status,
        labels={"alertname": name, "instance": instance, "severity": severity},
        annotations=annotations
        or {
            "summary": f"CPU 91.2% on {instance}",
            "description": "system_cpu_usage_percent > 80 for 5m",
        },
        starts_at=STARTED,
        ends_at=ENDED if status == "resolved" else None,
        generator_url=f"http://mon.example.com/alerts/rules/high_cpu?instance={instance}",
        fingerprint=f"fp{instance}",
    )


def notification(*alerts: AlertItem, **fields: Any) -> Notification:
    items = list(alerts) or [alert()]
    status = "firing" if any(a.status == "firing" for a in items) else "resolved"
    values: dict[str, Any] = {
        "receiver": "oncall",
        "status": status,
        "group_key": GROUP_KEY,
        "group_labels": {"alertname": items[0].labels["alertname"]},
        "common_labels": {
            k: v for k, v in items[0].labels.items() if all(a.labels.get(k) == v for a in items)
        },
        "common_annotations": {},
        "alerts": items,
        "external_url": "http://mon.example.com:8000",
    }
    values.update(fields)
    return Notification(**values)
