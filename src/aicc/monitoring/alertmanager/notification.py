"""What one flush of an aggregation group tells one receiver (Alertmanager's
``template.Data``), and the webhook JSON Alertmanager posts for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aicc.monitoring.alertmanager.times import format_time


class NotifyReason(StrEnum):
    """``notify.NotifyReason``, with Alertmanager's wording."""

    NONE = "none"
    FIRST_NOTIFICATION = "first notification"
    NEW_ALERTS = "new alerts added"
    NEW_RESOLVED = "some alerts resolved"
    ALL_RESOLVED = "all alerts resolved"
    REPEAT_INTERVAL = "repeat interval elapsed"


@dataclass(frozen=True, slots=True)
class NotifiedAlert:
    status: str
    """``firing`` or ``resolved`` at the flush."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    """``None`` for a firing alert (Go's zero time on the wire, as Alertmanager sends)."""
    generator_url: str
    fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        """The webhook payload's alert object."""
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    receiver: str
    status: str
    """``firing`` if any alert is firing, else ``resolved``."""
    group_key: str
    group_id: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    alerts: tuple[NotifiedAlert, ...]
    truncated_alerts: int
    reason: NotifyReason
    timestamp: float
    """The flush time; the notification log entry carries the same."""
    idempotency_key: str = field(default="")
    """Unique per group state notified: a job key that makes a second enqueue a no-op."""

    @property
    def firing(self) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.status == "resolved"]

    def to_webhook(self, external_url: str = "") -> dict[str, Any]:
        """Alertmanager's webhook body (``version`` ``"4"``), field for field."""
        return {
            "receiver": self.receiver,
            "status": self.status,
            "alerts": [a.to_dict() for a in self.alerts],
            "groupLabels": dict(self.group_labels),
            "commonLabels": dict(self.common_labels),
            "commonAnnotations": dict(self.common_annotations),
            "externalURL": external_url,
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for a job payload; ``from_dict`` reads it back."""
        return {
            "receiver": self.receiver,
            "status": self.status,
            "group_key": self.group_key,
            "group_id": self.group_id,
            "group_labels": dict(self.group_labels),
            "common_labels": dict(self.common_labels),
            "common_annotations": dict(self.common_annotations),
            "alerts": [
                {
                    "status": a.status,
                    "labels": dict(a.labels),
                    "annotations": dict(a.annotations),
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "generator_url": a.generator_url,
                    "fingerprint": a.fingerprint,
                }
                for a in self.alerts
            ],
            "truncated_alerts": self.truncated_alerts,
            "reason": self.reason.value,
            "timestamp": self.timestamp,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            receiver=data["receiver"],
            status=data["status"],
            group_key=data["group_key"],
            group_id=data["group_id"],
            group_labels=data["group_labels"],
            common_labels=data["common_labels"],
            common_annotations=data["common_annotations"],
            alerts=tuple(NotifiedAlert(**a) for a in data["alerts"]),
            truncated_alerts=data["truncated_alerts"],
            reason=NotifyReason(data["reason"]),
            timestamp=data["timestamp"],
            idempotency_key=data.get("idempotency_key", ""),
        )


def common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map has with the same value (``commonLabels``)."""
    if not maps:
        return {}
    out = dict(maps[0])
    for other in maps[1:]:
        out = {k: v for k, v in out.items() if other.get(k, "") == v}
        if not out:
            break
    return out
