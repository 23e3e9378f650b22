from __future__ import annotations

import pytest

from aicc.monitoring.alertmanager import (
    Alert,
    GroupState,
    LogEntry,
    NotifyReason,
    RoutingConfig,
    due,
    flush,
    needs_update,
    update,
)

T = 1_800_000_000.0
REPEAT = 4 * 3600.0


ENTRY = LogEntry(frozenset({"a"}), frozenset({"r"}), T, T + 2 * REPEAT)
NO_FIRING = LogEntry(frozenset(), frozenset({"a"}), T, T + 2 * REPEAT)


@pytest.mark.parametrize(
    ("entry", "firing_now", "resolved_now", "send_resolved", "at", "reason"),
    [
        (None, {"a"}, set(), True, T, NotifyReason.FIRST_NOTIFICATION),
        (None, set(), {"a"}, True, T, NotifyReason.NONE),
        (ENTRY, {"a", "b"}, set(), True, T, NotifyReason.NEW_ALERTS),
        (NO_FIRING, {"a"}, set(), True, T, NotifyReason.FIRST_NOTIFICATION),
        (ENTRY, set(), {"a"}, False, T, NotifyReason.ALL_RESOLVED),
        (NO_FIRING, set(), {"b"}, True, T, NotifyReason.NONE),
        (ENTRY, {"a"}, {"r", "s"}, True, T, NotifyReason.NEW_RESOLVED),
        (ENTRY, {"a"}, {"r", "s"}, False, T, NotifyReason.NONE),
        (ENTRY, {"a"}, {"r"}, True, T + REPEAT, NotifyReason.NONE),
        (ENTRY, {"a"}, {"r"}, True, T + REPEAT + 0.001, NotifyReason.REPEAT_INTERVAL),
        (ENTRY, set(), set(), True, T, NotifyReason.ALL_RESOLVED),
    ],
)
def test_needs_update_follows_the_dedup_stage(
    entry: LogEntry | None,
    firing_now: set[str],
    resolved_now: set[str],
    send_resolved: bool,
    at: float,
    reason: NotifyReason,
) -> None:
    got = needs_update(
        entry,
        frozenset(firing_now),
        frozenset(resolved_now),
        REPEAT,
        at,
        send_resolved=send_resolved,
    )
    assert got is reason


def test_a_scenario_sends_what_alertmanager_sent() -> None:
    """Recorded from Alertmanager 0.25 (group_wait 1s, group_interval 3s, two webhooks, one
    with send_resolved off): a, b fire; b resolves; c fires; a and c resolve."""
    routing = RoutingConfig.from_json(
        {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "3s",
                "repeat_interval": "1h",
                "routes": [{"receiver": "hook", "continue": True}, {"receiver": "hooknr"}],
            }
        }
    )

    def alert(i: str, ends_at: float) -> Alert:
        return Alert({"alertname": "X", "i": i}, starts_at=T, ends_at=ends_at)

    pushes = {
        0.0: [alert("a", T + 3600), alert("b", T + 3600)],
        2.5: [alert("b", T + 2.4)],
        5.5: [alert("c", T + 3600)],
        8.5: [alert("a", T + 8.4), alert("c", T + 8.4)],
    }
    states: dict[str, GroupState] = {}
    sent: list[tuple[str, str, list[tuple[str, str]]]] = []
    for step in range(0, 125):
        now = T + step / 10
        for alert_ in pushes.get(step / 10, []):
            for match in routing.match(alert_.labels):
                state = states.get(match.group_id) or GroupState.new(match)
                states[match.group_id] = update(state, [alert_], now)
        for gid, state in states.items():
            if due(state, now):
                notification, states[gid] = flush(
                    state, now, send_resolved=state.receiver == "hook"
                )
                if notification is not None:
                    pairs = [(a.labels["i"], a.status) for a in notification.alerts]
                    sent.append((notification.receiver, notification.status, pairs))
    assert sent == [
        ("hook", "firing", [("a", "firing"), ("b", "firing")]),
        ("hooknr", "firing", [("a", "firing"), ("b", "firing")]),
        ("hook", "firing", [("a", "firing"), ("b", "resolved")]),
        ("hook", "firing", [("a", "firing"), ("c", "firing")]),
        ("hooknr", "firing", [("a", "firing"), ("c", "firing")]),
        ("hook", "resolved", [("a", "resolved"), ("c", "resolved")]),
    ]
