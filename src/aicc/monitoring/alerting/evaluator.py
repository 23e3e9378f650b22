"""Prometheus' alerting-rule state machine (``rules/alerting.go``, Prometheus 3), one rule and
one evaluation at a time, over a :class:`SampleStore`.

Each series (or ``by`` group) whose value holds against the threshold is an alert instance,
keyed by the fingerprint of its labels (series labels, the rule's ``labels``, ``severity`` =
the rule's level, ``alertname`` = its name):

- new, or coming back after it resolved → ``pending`` with ``active_at`` = now;
- ``pending`` and true since ``active_at`` for ``for_seconds`` → ``firing`` (``for`` 0 fires
  on the first evaluation); one evaluation where it is not true deletes a pending alert, which
  was never sent anywhere;
- ``firing`` and no longer true → stays firing while ``now - keep_firing_since <
  keep_firing_for_seconds`` (``keep_firing_since`` is the first evaluation that missed), then
  ``inactive`` with ``resolved_at`` = now, kept 15 minutes so the resolution reaches the
  notifier, then deleted;
- ``firing`` while ``now - active_at`` is under a ``for_seconds`` that was raised since →
  back to ``pending``.

Sending follows Prometheus' ``needsSending``: pending never; a resolution not yet sent at
once; a firing (or resolved, within its retention) alert again once ``resend_delay`` has
passed since the last send. A sent alert ends at ``resolved_at``, or while firing at
``now + 4 × max(interval, resend_delay)`` so a receiver resolves it on its own if evaluation
stops. The state is plain data (``RuleState.to_dict()``): reloaded after a restart, a firing
alert neither fires (nor notifies) again nor is forgotten, and pending timers keep running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from aicc.monitoring.alerting import templates
from aicc.monitoring.alerting.labels import Labels, fingerprint, labels_of
from aicc.monitoring.alerting.rules import AlertRule
from aicc.monitoring.alerting.samples import SampleStore
from aicc.monitoring.alerting.state import (
    ActiveAlert,
    AlertInstance,
    HistoryState,
    OutgoingAlert,
    RuleState,
    Transition,
)

RESOLVED_RETENTION = 900.0
DUPLICATE_LABELS = "vector contains metrics with the same labelset after applying alert labels"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one evaluation: the state to keep, the alerts to hand to the notifier
    now, and the state changes (``alerts``: the rule's pending and firing alerts). With
    ``error`` (two results with one label set, as Prometheus refuses) nothing changed but the
    time."""

    rule_name: str
    state: RuleState
    to_send: list[OutgoingAlert]
    transitions: list[Transition]
    error: str | None = None
    skipped: bool = False
    """Not evaluated: the store holds less than ``min_coverage`` seconds of samples."""

    @property
    def alerts(self) -> list[ActiveAlert]:
        return active_alerts(self.state)


def evaluate(
    rule: AlertRule,
    store: SampleStore,
    state: RuleState | None,
    now: float,
    *,
    interval: float = 15.0,
    resend_delay: float = 60.0,
    external_url: str = "",
    min_coverage: float = 0.0,
) -> Evaluation:
    """Evaluate ``rule`` at ``now`` against ``store``, continuing from ``state`` (None for a
    rule never evaluated). ``interval`` is the evaluation interval; ``resend_delay`` is
    Prometheus' ``--rules.alert.resend-delay``; ``external_url`` prefixes ``generator_url``.
    ``min_coverage``: seconds of samples the store must hold (since its first write) before
    the rule is evaluated; after a restart the store starts empty, and without it an alert
    carried over in ``state`` would resolve for want of data (two scrape intervals is enough
    for ``latest`` rules). The given state is not modified."""
    now = float(now)
    previous = state if state is not None else RuleState(rule.rule_name)
    if previous.rule_name != rule.rule_name:
        raise ValueError(f"state of {previous.rule_name!r} given for rule {rule.rule_name!r}")
    since = store.first_write_at
    if min_coverage > 0 and (since is None or now - since < min_coverage):
        return Evaluation(rule.rule_name, previous, [], [], skipped=True)
    result = store.query(
        rule.aggregation or "latest",
        rule.metric,
        rule.selector,
        window=rule.window_seconds,
        now=now,
        by=rule.by,
        histogram=rule.histogram,
    )
    extra = rule.alert_labels
    fresh: dict[str, tuple[Labels, Labels, float]] = {}
    for result_labels, value in result.items():
        if math.isnan(value) or not rule.holds(value):
            continue
        key, alert_labels = _identity(result_labels, extra)
        if key in fresh:
            kept = RuleState(previous.rule_name, dict(previous.alerts), now, DUPLICATE_LABELS)
            return Evaluation(rule.rule_name, kept, [], [], DUPLICATE_LABELS)
        fresh[key] = (alert_labels, result_labels, value)

    alerts = {key: alert.copy() for key, alert in previous.alerts.items()}
    changes = _Changes(rule.rule_name, now)
    for key, (labels, result_labels, value) in fresh.items():
        annotations = _annotations(rule, value, result_labels)
        current = alerts.get(key)
        if current is not None and current.state != "inactive":
            current.value = value
            current.annotations = annotations
            continue
        alerts[key] = AlertInstance(dict(labels), annotations, "pending", value, active_at=now)
        changes.add(key, alerts[key], "inactive" if current is None else "resolved", "pending")

    for key, alert in list(alerts.items()):
        if key not in fresh:
            keep_firing = False
            if alert.state == "firing" and rule.keep_firing_for_seconds > 0:
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = now
                keep_firing = now - alert.keep_firing_since < rule.keep_firing_for_seconds
            retained_until = math.inf if alert.resolved_at is None else alert.resolved_at
            if alert.state == "pending" or now - retained_until > RESOLVED_RETENTION:
                del alerts[key]
            if alert.state != "inactive" and not keep_firing:
                to_state: HistoryState = "resolved" if alert.state == "firing" else "inactive"
                changes.add(key, alert, alert.state, to_state)
                alert.state = "inactive"
                alert.resolved_at = now
            if not keep_firing:
                continue
        else:
            alert.keep_firing_since = None
        if alert.state == "pending" and now - alert.active_at >= rule.for_seconds:
            alert.state = "firing"
            alert.fired_at = now
            changes.add(key, alert, "pending", "firing")
        if alert.state == "firing" and now - alert.active_at < rule.for_seconds:
            alert.state = "pending"
            alert.fired_at = alert.last_sent_at = alert.keep_firing_since = None
            changes.add(key, alert, "firing", "pending")

    new_state = RuleState(rule.rule_name, alerts, now, None)
    to_send = _send(rule, alerts, now, 4 * max(interval, resend_delay), resend_delay, external_url)
    return Evaluation(rule.rule_name, new_state, to_send, changes.items)


@lru_cache(maxsize=65536)
def _identity(result_labels: Labels, extra: Labels) -> tuple[str, Labels]:
    """Fingerprint and label set of the alert for one result series."""
    merged = dict(result_labels)
    merged.update(extra)
    labels = labels_of(merged)
    return fingerprint(labels), labels


def _annotations(rule: AlertRule, value: float, result_labels: Labels) -> dict[str, str]:
    if not rule.annotations:
        return {}
    labels = dict(result_labels)
    return {
        name: templates.render(text, value=value, labels=labels, threshold=rule.threshold)
        for name, text in rule.annotations.items()
    }


class _Changes:
    def __init__(self, rule_name: str, at: float) -> None:
        self.rule_name, self.at = rule_name, at
        self.items: list[Transition] = []

    def add(self, key: str, alert: AlertInstance, old: HistoryState, new: HistoryState) -> None:
        self.items.append(
            Transition(self.rule_name, key, dict(alert.labels), old, new, alert.value, self.at)
        )


def _send(
    rule: AlertRule,
    alerts: dict[str, AlertInstance],
    now: float,
    validity: float,
    resend_delay: float,
    external_url: str,
) -> list[OutgoingAlert]:
    url = f"{external_url.rstrip('/')}/alerts/rules/{quote(rule.rule_name)}" if external_url else ""
    out: list[OutgoingAlert] = []
    for key, alert in alerts.items():
        if alert.state == "pending":
            continue
        last = alert.last_sent_at
        resolved_unsent = alert.resolved_at is not None and (
            last is None or alert.resolved_at > last
        )
        if not resolved_unsent and last is not None and last + resend_delay >= now:
            continue
        alert.last_sent_at = now
        alert.valid_until = now + validity
        resolved = alert.resolved_at is not None
        out.append(
            OutgoingAlert(
                rule_name=rule.rule_name,
                fingerprint=key,
                status="resolved" if resolved else "firing",
                labels=dict(alert.labels),
                annotations=dict(alert.annotations),
                value=alert.value,
                starts_at=alert.fired_at if alert.fired_at is not None else alert.active_at,
                ends_at=alert.resolved_at if alert.resolved_at is not None else alert.valid_until,
                generator_url=url,
            )
        )
    return out


def active_alerts(state: RuleState) -> list[ActiveAlert]:
    """The pending and firing alerts of a rule's state, ordered by labels."""
    active = [
        ActiveAlert(
            rule_name=state.rule_name,
            fingerprint=key,
            state=alert.state,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            value=alert.value,
            active_at=alert.active_at,
            fired_at=alert.fired_at,
            keep_firing_since=alert.keep_firing_since,
        )
        for key, alert in state.alerts.items()
        if alert.state != "inactive"
    ]
    active.sort(key=lambda a: sorted(a.labels.items()))
    return active
