from __future__ import annotations

import json

from aicc.monitoring.alertmanager import (
    ZERO_TIME,
    Alert,
    GroupState,
    Notification,
    NotifyReason,
    RoutingConfig,
    disposable,
    due,
    flush,
    format_time,
    muter,
    parse_silence,
    save_silence,
    update,
)

T = 1_800_000_000.0
WAIT, INTERVAL, REPEAT = 30.0, 300.0, 4 * 3600.0

ROUTING = RoutingConfig.from_json(
    {
        "route": {
            "receiver": "slack",
            "group_by": ["alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        }
    }
)


def firing(instance: str, starts_at: float = T, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": "HighCPU", "instance": instance, **labels},
        annotations={"summary": f"CPU high on {instance}"},
        starts_at=starts_at,
    )


def resolved(alert: Alert, at: float) -> Alert:
    return Alert(alert.labels, alert.annotations, alert.starts_at, at, alert.generator_url)


def group(*alerts: Alert, now: float = T) -> GroupState:
    [match] = ROUTING.match(alerts[0].labels)
    return update(GroupState.new(match), alerts, now)


def test_the_first_flush_waits_group_wait() -> None:
    state = group(firing("mon-1"))
    assert not due(state, T + WAIT - 0.001)
    assert due(state, T + WAIT)
    notification, state = flush(state, T + WAIT)
    assert notification is not None
    assert notification.reason is NotifyReason.FIRST_NOTIFICATION
    assert [a.labels["instance"] for a in notification.alerts] == ["mon-1"]


def test_an_alert_older_than_group_wait_flushes_at_once() -> None:
    state = group(firing("mon-1", starts_at=T - 60))
    assert due(state, T)


def test_alerts_arriving_during_group_wait_go_out_together() -> None:
    state = group(firing("mon-1"))
    state = update(state, [firing("mon-2", starts_at=T + 10)], T + 10)
    assert state.next_flush_at == T + WAIT
    notification, _ = flush(state, T + WAIT)
    assert notification is not None
    assert [a.labels["instance"] for a in notification.alerts] == ["mon-1", "mon-2"]


def test_a_new_alert_waits_for_the_next_group_interval() -> None:
    _, state = flush(group(firing("mon-1")), T + WAIT)
    state = update(state, [firing("mon-2", starts_at=T + 40)], T + 40)
    assert not due(state, T + WAIT + INTERVAL - 1)
    assert due(state, T + WAIT + INTERVAL)
    notification, _ = flush(state, T + WAIT + INTERVAL)
    assert notification is not None
    assert notification.reason is NotifyReason.NEW_ALERTS
    assert len(notification.alerts) == 2


def test_an_unchanged_group_is_not_notified_again_until_repeat_interval() -> None:
    state = group(firing("mon-1"))
    sent_at = []
    now = T
    while now < T + 2 * REPEAT + 3 * INTERVAL:
        if due(state, now):
            notification, state = flush(state, now)
            if notification is not None:
                sent_at.append(now - T)
        now += 15
    assert sent_at == [WAIT, WAIT + 49 * INTERVAL, WAIT + 98 * INTERVAL]


def test_flushing_the_same_state_twice_sends_once() -> None:
    first, state = flush(group(firing("mon-1")), T + WAIT)
    second, state = flush(state, T + WAIT)
    third, _ = flush(state, T + WAIT + INTERVAL)
    assert first is not None
    assert second is None
    assert third is None


def test_resolution_is_notified_and_the_group_empties() -> None:
    alert = firing("mon-1")
    _, state = flush(group(alert), T + WAIT)
    state = update(state, [resolved(alert, T + 100)], T + 100)
    notification, state = flush(state, T + WAIT + INTERVAL)
    assert notification is not None
    assert notification.reason is NotifyReason.ALL_RESOLVED
    assert notification.status == "resolved"
    assert notification.alerts[0].ends_at == T + 100
    assert state.alerts == {}
    assert not due(state, T + 10 * INTERVAL)
    assert not disposable(state, T + WAIT + INTERVAL), "the log entry outlives the group"
    assert disposable(state, T + WAIT + INTERVAL + 2 * REPEAT)


def test_without_send_resolved_the_resolution_is_only_logged() -> None:
    alert = firing("mon-1")
    _, state = flush(group(alert), T + WAIT, send_resolved=False)
    state = update(state, [resolved(alert, T + 100)], T + 100)
    notification, state = flush(state, T + WAIT + INTERVAL, send_resolved=False)
    assert notification is None
    assert state.log is not None and state.log.firing == frozenset()
    again = T + 1000
    state = update(state, [firing("mon-1", starts_at=again)], again)
    assert state.next_flush_at == again + WAIT, "a new group starts with group_wait"
    notification, _ = flush(state, again + WAIT, send_resolved=False)
    assert notification is not None
    assert notification.reason is NotifyReason.FIRST_NOTIFICATION


def test_one_of_two_resolving_is_sent_only_with_send_resolved() -> None:
    a, b = firing("mon-1"), firing("mon-2")
    _, base = flush(group(a, b), T + WAIT)
    base = update(base, [resolved(b, T + 100)], T + 100)
    with_resolved, state = flush(base, T + WAIT + INTERVAL, send_resolved=True)
    assert with_resolved is not None
    assert with_resolved.reason is NotifyReason.NEW_RESOLVED
    assert with_resolved.status == "firing"
    assert [(x.labels["instance"], x.status) for x in with_resolved.alerts] == [
        ("mon-1", "firing"),
        ("mon-2", "resolved"),
    ]
    assert list(state.alerts) == [a.fingerprint]
    without, state = flush(base, T + WAIT + INTERVAL, send_resolved=False)
    assert without is None
    assert list(state.alerts) == [a.fingerprint]


def test_without_send_resolved_a_mixed_notification_carries_only_firing_alerts() -> None:
    a, b, c = firing("mon-1"), firing("mon-2"), firing("mon-3", starts_at=T + 100)
    _, state = flush(group(a, b), T + WAIT, send_resolved=False)
    state = update(state, [resolved(b, T + 100), c], T + 100)
    notification, _ = flush(state, T + WAIT + INTERVAL, send_resolved=False)
    assert notification is not None
    assert [x.labels["instance"] for x in notification.alerts] == ["mon-1", "mon-3"]


def test_an_alert_whose_end_passes_resolves_without_an_update() -> None:
    alert = Alert({"alertname": "HighCPU", "instance": "mon-1"}, starts_at=T, ends_at=T + 120)
    _, state = flush(group(alert), T + WAIT)
    notification, state = flush(state, T + WAIT + INTERVAL)
    assert notification is not None and notification.status == "resolved"
    assert state.alerts == {}


def test_silenced_alerts_are_left_out_and_notified_once_unmuted() -> None:
    a, b = firing("mon-1"), firing("mon-2")
    state = group(a, b)

    def muted(labels: object) -> bool:
        return labels == b.labels

    notification, state = flush(state, T + WAIT, is_muted=muted)
    assert notification is not None
    assert [x.labels["instance"] for x in notification.alerts] == ["mon-1"]
    notification, state = flush(state, T + WAIT + INTERVAL)
    assert notification is not None
    assert notification.reason is NotifyReason.NEW_ALERTS


def test_a_fully_muted_group_sends_nothing_and_logs_nothing() -> None:
    notification, state = flush(group(firing("mon-1")), T + WAIT, is_muted=lambda _: True)
    assert notification is None
    assert state.log is None
    notification, _ = flush(state, T + WAIT + INTERVAL)
    assert notification is not None
    assert notification.reason is NotifyReason.FIRST_NOTIFICATION


def test_inhibited_and_silenced_alerts_are_muted_until_their_cause_ends() -> None:
    routing = RoutingConfig.from_json(
        {
            "route": {"receiver": "slack", "group_by": ["alertname"], "group_wait": "30s"},
            "inhibit_rules": [
                {
                    "source_matchers": ['severity="critical"'],
                    "target_matchers": ['severity="warning"'],
                    "equal": ["instance"],
                }
            ],
        }
    )
    critical = Alert({"alertname": "Down", "instance": "mon-1", "severity": "critical"}, {}, T)
    warning = Alert({"alertname": "HighCPU", "instance": "mon-1", "severity": "warning"}, {}, T)
    other = Alert({"alertname": "HighCPU", "instance": "mon-2", "severity": "warning"}, {}, T)
    body = {
        "matchers": [{"name": "instance", "value": "mon-2", "isRegex": False}],
        "startsAt": format_time(T),
        "endsAt": format_time(T + 600),
        "createdBy": "kim",
        "comment": "reboot",
    }
    silences = save_silence(parse_silence(body, T), T)
    [match] = routing.match(warning.labels)
    state = update(GroupState.new(match), [warning, other], T)
    is_muted = muter(routing.inhibit_rules, [critical, warning, other], silences, T + WAIT)
    notification, state = flush(state, T + WAIT, is_muted=is_muted)
    assert notification is None
    later = T + 900
    critical_resolved = Alert(critical.labels, {}, T, T + 800)
    is_muted = muter(routing.inhibit_rules, [critical_resolved, warning, other], silences, later)
    notification, _ = flush(state, later, is_muted=is_muted)
    assert notification is not None
    assert [a.labels["instance"] for a in notification.alerts] == ["mon-1", "mon-2"]


def test_a_routing_change_keeps_alerts_and_log_with_new_timings() -> None:
    _, state = flush(group(firing("mon-1")), T + WAIT)
    faster = RoutingConfig.from_json(
        {"route": {"receiver": "slack", "group_by": ["alertname"], "group_interval": "1m"}}
    )
    [match] = faster.match({"alertname": "HighCPU"})
    changed = state.with_route(match)
    assert changed.group_interval == 60
    assert (changed.alerts, changed.log) == (state.alerts, state.log)


def test_max_alerts_truncates_and_counts_the_rest() -> None:
    state = group(*(firing(f"mon-{i}") for i in range(5)))
    notification, _ = flush(state, T + WAIT, max_alerts=2)
    assert notification is not None
    assert len(notification.alerts) == 2
    assert notification.truncated_alerts == 3


def test_the_notification_is_alertmanagers_webhook_body() -> None:
    a = firing("mon-2", severity="warning")
    b = firing("mon-1", severity="warning")
    notification, _ = flush(group(a, b), T + WAIT)
    assert notification is not None
    body = notification.to_webhook("http://aicc:8000")
    assert body["version"] == "4"
    assert body["groupKey"] == '{}:{alertname="HighCPU"}'
    assert body["status"] == "firing"
    assert body["receiver"] == "slack"
    assert body["groupLabels"] == {"alertname": "HighCPU"}
    assert body["commonLabels"] == {"alertname": "HighCPU", "severity": "warning"}
    assert body["commonAnnotations"] == {}
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"] == "http://aicc:8000"
    first = body["alerts"][0]
    assert first["labels"]["instance"] == "mon-1", "ordered by instance"
    assert first["endsAt"] == ZERO_TIME
    assert first["startsAt"] == "2027-01-15T08:00:00Z"
    assert first["fingerprint"] == b.fingerprint
    assert set(first) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }


def test_state_and_notifications_survive_a_json_round_trip() -> None:
    notification, state = flush(group(firing("mon-1"), firing("mon-2")), T + WAIT)
    assert notification is not None
    state = update(state, [firing("mon-3", starts_at=T + 50)], T + 50)
    restored = GroupState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert flush(restored, T + WAIT + INTERVAL) == flush(state, T + WAIT + INTERVAL)
    copy = Notification.from_dict(json.loads(json.dumps(notification.to_dict())))
    assert copy == notification


def test_idempotency_keys_differ_between_notifications() -> None:
    first, state = flush(group(firing("mon-1")), T + WAIT)
    state = update(state, [firing("mon-2", starts_at=T + 40)], T + 40)
    second, _ = flush(state, T + WAIT + INTERVAL)
    assert first is not None and second is not None
    assert first.idempotency_key != second.idempotency_key


def test_an_empty_group_is_never_due_and_flushes_to_nothing() -> None:
    [match] = ROUTING.match({"alertname": "HighCPU"})
    state = GroupState.new(match)
    assert not due(state, T + 10_000)
    assert flush(state, T) == (None, state)
    assert disposable(state, T)
