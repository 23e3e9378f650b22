"""The state an alerting rule carries between evaluations, and what an evaluation hands out:
alert instances, pending/firing views, alerts for the notifier and history transitions. All
plain data with ``to_dict()``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aicc.monitoring.alerting import templates

AlertState = Literal["inactive", "pending", "firing"]
HistoryState = Literal["inactive", "pending", "firing", "resolved"]


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else templates.go_float(value)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(slots=True)
class AlertInstance:
    """One alert of a rule, as Prometheus keeps it between evaluations."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    last_sent_at: float | None = None
    valid_until: float | None = None

    def copy(self) -> AlertInstance:
        return AlertInstance(
            self.labels,
            self.annotations,
            self.state,
            self.value,
            self.active_at,
            self.fired_at,
            self.resolved_at,
            self.keep_firing_since,
            self.last_sent_at,
            self.valid_until,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "state": self.state,
            "value": _number(self.value),
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "keep_firing_since": self.keep_firing_since,
            "last_sent_at": self.last_sent_at,
            "valid_until": self.valid_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertInstance:
        return cls(
            labels={str(k): str(v) for k, v in data["labels"].items()},
            annotations={str(k): str(v) for k, v in data.get("annotations", {}).items()},
            state=data["state"],
            value=float(data["value"]),
            active_at=float(data["active_at"]),
            fired_at=_optional(data.get("fired_at")),
            resolved_at=_optional(data.get("resolved_at")),
            keep_firing_since=_optional(data.get("keep_firing_since")),
            last_sent_at=_optional(data.get("last_sent_at")),
            valid_until=_optional(data.get("valid_until")),
        )


@dataclass(slots=True)
class RuleState:
    """Everything a rule's evaluation carries to the next one, keyed by alert fingerprint.
    ``to_dict()`` is JSON-ready (non-finite values as Prometheus' strings ``+Inf``, ``NaN``)."""

    rule_name: str
    alerts: dict[str, AlertInstance] = field(default_factory=dict)
    evaluated_at: float | None = None
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_name": self.rule_name,
            "evaluated_at": self.evaluated_at,
            "last_error": self.last_error,
            "alerts": {fp: alert.to_dict() for fp, alert in self.alerts.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleState:
        return cls(
            rule_name=str(data["rule_name"]),
            alerts={
                str(fp): AlertInstance.from_dict(alert)
                for fp, alert in data.get("alerts", {}).items()
            },
            evaluated_at=_optional(data.get("evaluated_at")),
            last_error=data.get("last_error"),
        )


def iso(timestamp: float) -> str:
    """RFC 3339 in UTC with milliseconds, as Alertmanager's API writes times."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """A pending or firing alert, for ``GET /alerts``."""

    rule_name: str
    fingerprint: str
    state: AlertState
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    active_at: float
    fired_at: float | None
    keep_firing_since: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_name": self.rule_name,
            "fingerprint": self.fingerprint,
            "state": self.state,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": _number(self.value),
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "keep_firing_since": self.keep_firing_since,
        }


@dataclass(frozen=True, slots=True)
class OutgoingAlert:
    """An alert handed to the notifier: firing, or resolved at ``ends_at``."""

    rule_name: str
    fingerprint: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    starts_at: float
    ends_at: float
    generator_url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_name": self.rule_name,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": _number(self.value),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "generator_url": self.generator_url,
        }

    def to_alertmanager(self) -> dict[str, Any]:
        """The alert as Prometheus posts it to Alertmanager (``POST /api/v2/alerts``)."""
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "generatorURL": self.generator_url,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for the history log. ``resolved`` is ``inactive`` after firing."""

    rule_name: str
    fingerprint: str
    labels: dict[str, str]
    from_state: HistoryState
    to_state: HistoryState
    value: float
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_name": self.rule_name,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "from": self.from_state,
            "to": self.to_state,
            "value": _number(self.value),
            "at": self.at,
        }
