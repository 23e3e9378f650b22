from __future__ import annotations

import pytest

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alertmanager import (
    Alert,
    fingerprint,
    format_time,
    postable_alert,
    postable_alerts,
    put,
)

NOW = 1_800_000_000.0
LABELS = {"alertname": "HighCPU", "instance": "mon-1", "severity": "warning"}


def pushed(now: float, **fields: object) -> Alert:
    return postable_alert({"labels": LABELS, **fields}, now)


def test_fingerprints_are_alertmanagers() -> None:
    assert fingerprint({"alertname": "HighCPU", "service": "auth", "severity": "critical"}) == (
        "a823ef5c998d6edd"
    )
    assert pushed(NOW).fingerprint == fingerprint(LABELS)


def test_an_alert_without_times_starts_now_and_ends_after_the_resolve_timeout() -> None:
    alert = pushed(NOW)
    assert (alert.starts_at, alert.ends_at, alert.timeout) == (NOW, NOW + 300, True)
    assert alert.status(NOW + 299) == "firing"
    assert alert.status(NOW + 300) == "resolved"


def test_the_resolve_timeout_is_configurable() -> None:
    [alert], problems = postable_alerts([{"labels": LABELS}], NOW, resolve_timeout=600)
    assert (alert.ends_at, problems) == (NOW + 600, [])


def test_an_alert_with_only_an_end_starts_at_its_end() -> None:
    alert = pushed(NOW, endsAt=format_time(NOW - 60))
    assert (alert.starts_at, alert.ends_at, alert.timeout) == (NOW - 60, NOW - 60, False)
    assert alert.status(NOW) == "resolved"


def test_empty_labels_are_dropped() -> None:
    alert = postable_alert({"labels": {**LABELS, "team": ""}}, NOW)
    assert "team" not in alert.labels


def test_repushed_firing_alert_keeps_its_first_start() -> None:
    first = pushed(NOW)
    again = pushed(NOW + 60)
    stored = put(first, again, NOW + 60)
    assert (stored.starts_at, stored.ends_at, stored.updated_at) == (NOW, NOW + 360, NOW + 60)


def test_an_alert_with_an_end_in_the_past_resolves_the_stored_one() -> None:
    first = pushed(NOW)
    resolved = pushed(NOW + 60, startsAt=format_time(NOW), endsAt=format_time(NOW + 30))
    stored = put(first, resolved, NOW + 60)
    assert (stored.starts_at, stored.ends_at) == (NOW, NOW + 30)
    assert stored.status(NOW + 60) == "resolved"


def test_a_later_explicit_end_outranks_a_pushed_timeout() -> None:
    explicit = pushed(NOW, startsAt=format_time(NOW), endsAt=format_time(NOW + 3600))
    refreshed = pushed(NOW + 60)
    stored = put(explicit, refreshed, NOW + 60)
    assert stored.ends_at == NOW + 3600


def test_a_later_timeout_end_does_not_outrank_the_younger_end() -> None:
    timeout = pushed(NOW, startsAt=format_time(NOW - 600))
    younger = pushed(NOW + 60, startsAt=format_time(NOW - 600), endsAt=format_time(NOW + 120))
    stored = put(timeout, younger, NOW + 60)
    assert stored.ends_at == NOW + 120


def test_a_prometheus_resend_replaces_the_stored_alert() -> None:
    first = pushed(NOW, startsAt=format_time(NOW - 300), endsAt=format_time(NOW + 240))
    resend = pushed(
        NOW + 60,
        startsAt=format_time(NOW - 300),
        endsAt=format_time(NOW + 300),
        annotations={"summary": "CPU 95%"},
    )
    stored = put(first, resend, NOW + 60)
    assert stored == resend


def test_an_alert_that_fires_again_after_resolving_starts_over() -> None:
    old = pushed(NOW, endsAt=format_time(NOW + 10))
    fresh = pushed(NOW + 600)
    stored = put(old, fresh, NOW + 600)
    assert (stored.starts_at, stored.ends_at) == (NOW + 600, NOW + 900)


def test_invalid_alerts_are_reported_and_valid_ones_kept() -> None:
    alerts, problems = postable_alerts(
        [
            {"labels": LABELS},
            {"labels": {}},
            {"labels": LABELS, "startsAt": format_time(NOW), "endsAt": format_time(NOW - 1)},
            {"labels": {"a": 1}},
        ],
        NOW,
    )
    assert [a.fingerprint for a in alerts] == [fingerprint(LABELS)]
    assert [p["loc"][0] for p in problems] == [1, 2, 3]


def test_a_body_that_is_not_a_list_is_422() -> None:
    with pytest.raises(ValidationFailed):
        postable_alerts({"labels": LABELS}, NOW)


def test_the_api_v2_shape_shows_suppression() -> None:
    alert = pushed(NOW)
    api = alert.to_api(receivers=["slack"], silenced_by=["s1"])
    assert api["status"] == {
        "state": "suppressed",
        "silencedBy": ["s1"],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    assert api["receivers"] == [{"name": "slack"}]
    assert (api["startsAt"], api["endsAt"]) == (format_time(NOW), format_time(NOW + 300))
    assert Alert.from_dict(alert.to_dict()) == alert
