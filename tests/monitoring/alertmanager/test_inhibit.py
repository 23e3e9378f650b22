from __future__ import annotations

from aicc.monitoring.alertmanager import Alert, InhibitRule, RoutingConfig

NOW = 1_800_000_000.0

CRITICAL_MUTES_WARNING = InhibitRule.from_config(
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "instance"],
    }
)


def alert(ends_at: float | None = None, **labels: str) -> Alert:
    return Alert(labels=labels, starts_at=NOW - 60, ends_at=ends_at)


def inhibited_by(rules: list[InhibitRule], alerts: list[Alert], target: Alert) -> list[str]:
    config = RoutingConfig.from_json(
        {"route": {"receiver": "r"}, "inhibit_rules": [r.to_config() for r in rules]}
    )
    return config.inhibitor(alerts, NOW).inhibited_by(target.labels)


def test_a_firing_critical_mutes_the_warning_with_equal_labels() -> None:
    critical = alert(alertname="HighCPU", instance="mon-1", severity="critical")
    warning = alert(alertname="HighCPU", instance="mon-1", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical, warning], warning) == [
        critical.fingerprint
    ]


def test_a_different_equal_label_does_not_mute() -> None:
    critical = alert(alertname="HighCPU", instance="mon-2", severity="critical")
    warning = alert(alertname="HighCPU", instance="mon-1", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical, warning], warning) == []


def test_labels_both_alerts_lack_count_as_equal() -> None:
    critical = alert(alertname="HighCPU", severity="critical")
    warning = alert(alertname="HighCPU", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical], warning) == [critical.fingerprint]


def test_a_resolved_source_does_not_mute() -> None:
    critical = alert(NOW - 1, alertname="HighCPU", instance="mon-1", severity="critical")
    warning = alert(alertname="HighCPU", instance="mon-1", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical], warning) == []


def test_a_source_whose_end_is_still_ahead_mutes() -> None:
    critical = alert(NOW + 120, alertname="HighCPU", instance="mon-1", severity="critical")
    warning = alert(alertname="HighCPU", instance="mon-1", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical], warning) == [critical.fingerprint]


def test_the_rule_never_mutes_the_source_side() -> None:
    critical = alert(alertname="HighCPU", instance="mon-1", severity="critical")
    warning = alert(alertname="HighCPU", instance="mon-1", severity="warning")
    assert inhibited_by([CRITICAL_MUTES_WARNING], [critical, warning], critical) == []


def test_an_alert_matching_both_sides_does_not_inhibit_itself() -> None:
    rule = InhibitRule.from_config(
        {"source_matchers": ['team="ops"'], "target_matchers": ['team="ops"'], "equal": ["job"]}
    )
    only = alert(alertname="Down", team="ops", job="api")
    assert inhibited_by([rule], [only], only) == []
    other = alert(alertname="Other", team="ops", job="api")
    assert inhibited_by([rule], [only, other], other) == [], (
        "a source that also matches the target side is disregarded for a two-sided target"
    )


def test_a_source_that_is_not_a_target_mutes_a_two_sided_target() -> None:
    rule = InhibitRule.from_config(
        {"source_matchers": ['team="ops"'], "target_matchers": ['page="no"'], "equal": ["job"]}
    )
    source = alert(alertname="Down", team="ops", job="api", page="yes")
    two_sided = alert(alertname="Slow", team="ops", job="api", page="no")
    assert inhibited_by([rule], [source, two_sided], two_sided) == [source.fingerprint]


def test_the_old_source_match_syntax_works_too() -> None:
    rule = InhibitRule.from_config(
        {
            "source_match": {"alertname": "ServiceDown"},
            "target_match_re": {"alertname": "High.*"},
            "equal": ["service"],
        }
    )
    down = alert(alertname="ServiceDown", service="auth")
    latency = alert(alertname="HighLatency", service="auth")
    unrelated = alert(alertname="HighLatency", service="recording")
    assert inhibited_by([rule], [down], latency) == [down.fingerprint]
    assert inhibited_by([rule], [down], unrelated) == []
