"""What a channel sends: one notification for one alert group, in Alertmanager's terms.

:class:`Notification` carries the fields of Alertmanager's ``template.Data`` (the body its
webhook receiver posts) plus the group key; :meth:`Notification.to_dict` and
:meth:`Notification.from_dict` turn it into plain JSON for a job payload and back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

Status = Literal["firing", "resolved"]
STATUSES: tuple[Status, ...] = ("firing", "resolved")
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""How Go (and so Alertmanager) writes an unset ``time.Time``: the ``endsAt`` of an alert
that has not ended."""


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class AlertItem:
    """One alert of the group, as Alertmanager hands it to a receiver."""

    status: Status
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"alert status must be firing or resolved, not {self.status!r}")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": utc(self.starts_at).isoformat(),
            "ends_at": utc(self.ends_at).isoformat() if self.ends_at is not None else None,
            "generator_url": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertItem:
        ends_at = data.get("ends_at")
        return cls(
            status=cast(Status, data["status"]),
            labels=dict(data.get("labels") or {}),
            annotations=dict(data.get("annotations") or {}),
            starts_at=utc(datetime.fromisoformat(data["starts_at"])),
            ends_at=utc(datetime.fromisoformat(ends_at)) if ends_at else None,
            generator_url=data.get("generator_url") or "",
            fingerprint=data.get("fingerprint") or "",
        )


@dataclass(frozen=True)
class Notification:
    """One notification of one alert group to one receiver.

    ``status`` is ``resolved`` only when every alert in the group is resolved.
    ``truncated_alerts`` counts alerts the caller already left out of ``alerts``.
    """

    receiver: str
    status: Status
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[AlertItem]
    external_url: str = ""
    truncated_alerts: int = 0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be firing or resolved, not {self.status!r}")
        if self.truncated_alerts < 0:
            raise ValueError("truncated_alerts cannot be negative")

    @property
    def firing(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "status": self.status,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "common_labels": dict(self.common_labels),
            "common_annotations": dict(self.common_annotations),
            "alerts": [a.to_dict() for a in self.alerts],
            "external_url": self.external_url,
            "truncated_alerts": self.truncated_alerts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            receiver=data["receiver"],
            status=cast(Status, data["status"]),
            group_key=data["group_key"],
            group_labels=dict(data.get("group_labels") or {}),
            common_labels=dict(data.get("common_labels") or {}),
            common_annotations=dict(data.get("common_annotations") or {}),
            alerts=[AlertItem.from_dict(a) for a in data.get("alerts") or []],
            external_url=data.get("external_url") or "",
            truncated_alerts=int(data.get("truncated_alerts") or 0),
        )


def dedup_key(notification: Notification) -> str:
    """The group's key at PagerDuty: sha256 of the group key in hex, as Alertmanager sends it,
    so a resolve closes the incident its trigger opened."""
    return hashlib.sha256(notification.group_key.encode()).hexdigest()


def state_key(notification: Notification) -> str:
    """Names one state of the group (status and which alerts fire or are resolved): retries
    of one notification share it, a later change of the group does not."""
    parts = [notification.group_key, notification.status]
    parts += sorted(f"{a.status} {_identity(a)}" for a in notification.alerts)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _identity(alert: AlertItem) -> str:
    return alert.fingerprint or repr(sorted(alert.labels.items()))


def go_time(value: datetime | None) -> str:
    """RFC 3339 in UTC with trailing zeros of the fraction dropped, as Go's ``time.Time``
    marshals to JSON (``2026-11-26T18:00:00Z``, ``...00.25Z``); None is Go's zero time."""
    if value is None:
        return GO_ZERO_TIME
    at = utc(value)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}".rstrip("0")
    return text + "Z"


def subject(notification: Notification) -> str:
    """Alertmanager's default ``__subject``: ``[FIRING:2] <group label values> (<the other
    common label values>)``, values in label-name order."""
    status = notification.status.upper()
    if notification.status == "firing":
        status += f":{len(notification.firing)}"
    text = f"[{status}] " + " ".join(v for _, v in sorted(notification.group_labels.items()))
    extra = {
        k: v for k, v in notification.common_labels.items() if k not in notification.group_labels
    }
    if extra:
        text += " (" + " ".join(v for _, v in sorted(extra.items())) + ")"
    return text.strip()
