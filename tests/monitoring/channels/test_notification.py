"""The notification every channel renders: plain JSON for a job payload, Alertmanager's
subject line, and the keys that identify a group and a state of it."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from aicc.monitoring.channels import AlertItem, Notification, dedup_key, state_key, subject
from tests.monitoring.channels.samples import GROUP_KEY, STARTED, alert, notification


def test_a_notification_survives_a_trip_through_json() -> None:
    original = notification(alert("mon-1"), alert("mon-2", status="resolved"), truncated_alerts=4)

    restored = Notification.from_dict(orjson.loads(orjson.dumps(original.to_dict())))

    assert restored == original
    assert restored.alerts[1].ends_at == original.alerts[1].ends_at


@pytest.mark.parametrize(
    ("group_labels", "common_labels", "expected"),
    [
        ({"alertname": "HighCPU"}, {"alertname": "HighCPU"}, "[FIRING:2] HighCPU"),
        (
            {"alertname": "HighCPU"},
            {"alertname": "HighCPU", "severity": "critical", "job": "node"},
            "[FIRING:2] HighCPU (node critical)",
        ),
        (
            {"team": "cc", "alertname": "HighCPU"},
            {"alertname": "HighCPU", "team": "cc"},
            "[FIRING:2] HighCPU cc",
        ),
        ({}, {}, "[FIRING:2]"),
    ],
)
def test_subject_is_alertmanagers_default(
    group_labels: dict[str, str], common_labels: dict[str, str], expected: str
) -> None:
    message = notification(
        alert("mon-1"),
        alert("mon-2"),
        alert("mon-3", status="resolved"),
        group_labels=group_labels,
        common_labels=common_labels,
    )

    assert subject(message) == expected


def test_resolved_subject_has_no_count() -> None:
    assert subject(notification(alert(status="resolved"))) == "[RESOLVED] HighCPU (mon-1 critical)"


def test_dedup_key_is_the_sha256_of_the_group_key_whatever_the_alerts() -> None:
    firing = notification(alert("mon-1"))
    resolved = notification(alert("mon-1", status="resolved"), alert("mon-2", status="resolved"))

    assert (
        dedup_key(firing) == dedup_key(resolved) == hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    )
    assert dedup_key(replace(firing, group_key='{}:{alertname="Other"}')) != dedup_key(firing)


def test_state_key_changes_with_the_group_state_only() -> None:
    base = notification(alert("mon-1"), alert("mon-2"))

    assert state_key(base) == state_key(notification(alert("mon-2"), alert("mon-1")))
    assert state_key(base) != state_key(notification(alert("mon-1")))
    assert state_key(base) != state_key(
        notification(alert("mon-1"), alert("mon-2", status="resolved"))
    )


def test_status_outside_firing_and_resolved_is_refused() -> None:
    with pytest.raises(ValueError, match="firing or resolved"):
        notification(status="pending")
    with pytest.raises(ValueError, match="firing or resolved"):
        AlertItem(status="inactive", labels={}, annotations={}, starts_at=STARTED)  # type: ignore[arg-type]


def test_times_are_stored_in_utc_and_naive_ones_are_taken_as_utc() -> None:
    naive = AlertItem(
        status="firing", labels={}, annotations={}, starts_at=datetime(2026, 1, 2, 3, 4, 5)
    )

    stored = naive.to_dict()
    restored = AlertItem.from_dict(orjson.loads(orjson.dumps(stored)))

    assert stored["starts_at"] == "2026-01-02T03:04:05+00:00"
    assert restored.starts_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert restored.starts_at.tzinfo is not None
