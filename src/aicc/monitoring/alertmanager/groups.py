"""Aggregation groups and when they notify: Alertmanager's ``dispatch/dispatch.go``
(``aggrGroup``) and ``notify`` (mute stages, ``DedupStage.needsUpdate``, ``RetryStage``,
``SetNotifiesStage``), as explicit state and pure functions.

A group is the alerts one route sends to one receiver with the same group labels. It is
created with its first alert and flushes ``group_wait`` later (at once if that alert
started more than ``group_wait`` ago), then every ``group_interval``. At a flush, silenced
and inhibited alerts are left out, and the rest is compared with the notification log
entry of the last notification to this receiver; it notifies when:

1. there is no entry and something fires ("first notification");
2. an alert fires that the entry did not have firing ("new alerts added", or "first
   notification" if the entry had nothing firing);
3. nothing fires now but the entry had firing alerts ("all alerts resolved"), even with
   ``send_resolved`` off, which then only updates the log;
4. with ``send_resolved``, an alert resolved that the entry did not have resolved;
5. otherwise only once ``repeat_interval`` has passed since the entry.

Without ``send_resolved`` resolved alerts are left out of what is sent. After a flush the
resolved alerts leave the group; a group left empty is gone (its log entry stays for
``2 × repeat_interval``, as the notification log keeps it), and the next alert starts a
new one with a new ``group_wait``.

The log entry is written when the flush hands out its ``Notification``: persist the new
state and enqueue the delivery job in one transaction, and the same group state is never
notified twice. (Alertmanager writes it after a successful send; here the durable job
queue, which retries until the channel accepts, stands in for that send.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cmp_to_key
from typing import Any

from aicc.monitoring.alertmanager.alerts import Alert
from aicc.monitoring.alertmanager.labels import Labels, alert_labels_less
from aicc.monitoring.alertmanager.notification import (
    Notification,
    NotifiedAlert,
    NotifyReason,
    common,
)
from aicc.monitoring.alertmanager.routes import RouteMatch

Muted = Callable[[Labels], bool]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """The notification log entry of the last notification of a group to its receiver."""

    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: float
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "firing": sorted(self.firing),
            "resolved": sorted(self.resolved),
            "timestamp": self.timestamp,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogEntry:
        return cls(
            frozenset(data["firing"]),
            frozenset(data["resolved"]),
            data["timestamp"],
            data["expires_at"],
        )


@dataclass(frozen=True, slots=True)
class GroupState:
    """One aggregation group of one receiver. Keep one per ``RouteMatch.group_id``."""

    group_id: str
    receiver: str
    route_id: str
    group_key: str
    group_labels: Mapping[str, str]
    group_wait: float
    group_interval: float
    repeat_interval: float
    alerts: Mapping[str, Alert] = field(default_factory=dict)
    """By fingerprint."""
    created_at: float | None = None
    """When the current incarnation of the group began; ``None`` while it is empty."""
    next_flush_at: float | None = None
    last_flush_at: float | None = None
    log: LogEntry | None = None

    @classmethod
    def new(cls, match: RouteMatch) -> GroupState:
        return cls(
            group_id=match.group_id,
            receiver=match.receiver,
            route_id=match.route_id,
            group_key=match.group_key,
            group_labels=dict(match.group_labels),
            group_wait=match.group_wait,
            group_interval=match.group_interval,
            repeat_interval=match.repeat_interval,
        )

    def with_route(self, match: RouteMatch) -> GroupState:
        """The same group under changed route timings (after a routing update)."""
        return replace(
            self,
            group_wait=match.group_wait,
            group_interval=match.group_interval,
            repeat_interval=match.repeat_interval,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "receiver": self.receiver,
            "route_id": self.route_id,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "alerts": [a.to_dict() for a in self.alerts.values()],
            "created_at": self.created_at,
            "next_flush_at": self.next_flush_at,
            "last_flush_at": self.last_flush_at,
            "log": None if self.log is None else self.log.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupState:
        alerts = (Alert.from_dict(a) for a in data["alerts"])
        return cls(
            group_id=data["group_id"],
            receiver=data["receiver"],
            route_id=data["route_id"],
            group_key=data["group_key"],
            group_labels=data["group_labels"],
            group_wait=data["group_wait"],
            group_interval=data["group_interval"],
            repeat_interval=data["repeat_interval"],
            alerts={a.fingerprint: a for a in alerts},
            created_at=data["created_at"],
            next_flush_at=data["next_flush_at"],
            last_flush_at=data["last_flush_at"],
            log=None if data["log"] is None else LogEntry.from_dict(data["log"]),
        )


def update(state: GroupState, alerts: Iterable[Alert], now: float) -> GroupState:
    """Insert or replace (by fingerprint) alerts routed to this group. The first alerts of
    an empty group start it: its first flush is due ``group_wait`` later, or at once when
    one of them started more than ``group_wait`` before ``now``."""
    incoming = list(alerts)
    if not incoming:
        return state
    merged = dict(state.alerts)
    for alert in incoming:
        merged[alert.fingerprint] = alert
    if state.created_at is not None:
        return replace(state, alerts=merged)
    old = any(a.starts_at + state.group_wait < now for a in incoming)
    return replace(
        state,
        alerts=merged,
        created_at=now,
        next_flush_at=now if old else now + state.group_wait,
    )


def due(state: GroupState, now: float) -> bool:
    """Whether the group's flush timer has run out."""
    return bool(state.alerts) and state.next_flush_at is not None and now >= state.next_flush_at


def disposable(state: GroupState, now: float) -> bool:
    """Nothing left to remember: no alerts and no live log entry. The row can go."""
    return not state.alerts and (state.log is None or state.log.expires_at <= now)


def needs_update(
    entry: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    repeat_interval: float,
    now: float,
    *,
    send_resolved: bool,
) -> NotifyReason:
    """``DedupStage.needsUpdate``."""
    if entry is None:
        return NotifyReason.FIRST_NOTIFICATION if firing else NotifyReason.NONE
    if not firing <= entry.firing:
        return NotifyReason.FIRST_NOTIFICATION if not entry.firing else NotifyReason.NEW_ALERTS
    if not firing:
        return NotifyReason.ALL_RESOLVED if entry.firing else NotifyReason.NONE
    if send_resolved and not resolved <= entry.resolved:
        return NotifyReason.NEW_RESOLVED
    if entry.timestamp < now - repeat_interval:
        return NotifyReason.REPEAT_INTERVAL
    return NotifyReason.NONE


def flush(
    state: GroupState,
    now: float,
    *,
    send_resolved: bool = True,
    is_muted: Muted | None = None,
    max_alerts: int = 0,
) -> tuple[Notification | None, GroupState]:
    """Flush the group at ``now`` (call when ``due``): the notification to deliver, if
    any, and the group's next state. ``is_muted(labels)`` says whether silences or
    inhibition mute an alert; ``max_alerts`` (0 = all) caps the alerts sent, the rest
    counted in ``truncated_alerts``."""
    if not state.alerts:
        return None, state
    ordered = sorted(state.alerts.values(), key=_NOTIFICATION_ORDER)
    resolved_now = {a.fingerprint for a in ordered if a.resolved_at(now)}
    visible = [a for a in ordered if is_muted is None or not is_muted(a.labels)]
    entry = state.log if state.log is not None and state.log.expires_at > now else None
    notification: Notification | None = None
    if visible:
        firing = frozenset(a.fingerprint for a in visible if a.fingerprint not in resolved_now)
        resolved = frozenset(a.fingerprint for a in visible if a.fingerprint in resolved_now)
        reason = needs_update(
            entry, firing, resolved, state.repeat_interval, now, send_resolved=send_resolved
        )
        if reason is not NotifyReason.NONE:
            entry = LogEntry(firing, resolved, now, now + 2 * state.repeat_interval)
            sent = visible if send_resolved else [a for a in visible if a.fingerprint in firing]
            if sent:
                notification = _notification(state, sent, resolved_now, reason, now, max_alerts)
    remaining = {fp: a for fp, a in state.alerts.items() if fp not in resolved_now}
    return notification, replace(
        state,
        alerts=remaining,
        created_at=state.created_at if remaining else None,
        next_flush_at=now + state.group_interval if remaining else None,
        last_flush_at=now,
        log=entry,
    )


def _compare(a: Alert, b: Alert) -> int:
    if alert_labels_less(a.labels, b.labels):
        return -1
    return 1 if alert_labels_less(b.labels, a.labels) else 0


_NOTIFICATION_ORDER = cmp_to_key(_compare)


def _notification(
    state: GroupState,
    alerts: list[Alert],
    resolved: set[str],
    reason: NotifyReason,
    now: float,
    max_alerts: int,
) -> Notification:
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    notified = tuple(
        NotifiedAlert(
            status="resolved" if a.fingerprint in resolved else "firing",
            labels=a.labels,
            annotations=a.annotations,
            starts_at=a.starts_at,
            ends_at=a.ends_at if a.fingerprint in resolved else None,
            generator_url=a.generator_url,
            fingerprint=a.fingerprint,
        )
        for a in alerts
    )
    firing = sorted(a.fingerprint for a in notified if a.status == "firing")
    closed = sorted(a.fingerprint for a in notified if a.status == "resolved")
    key = "\x00".join([state.group_id, repr(now), ",".join(firing), ",".join(closed)])
    return Notification(
        receiver=state.receiver,
        status="firing" if firing else "resolved",
        group_key=state.group_key,
        group_id=state.group_id,
        group_labels=dict(state.group_labels),
        common_labels=common([a.labels for a in notified]),
        common_annotations=common([a.annotations for a in notified]),
        alerts=notified,
        truncated_alerts=truncated,
        reason=reason,
        timestamp=now,
        idempotency_key=hashlib.sha256(key.encode()).hexdigest()[:32],
    )
