"""Alert rules: validation, metric-name resolution, the defaults, templates, fingerprints."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alerting import (
    DEFAULT_RULES,
    SPEC_METRICS,
    AlertRule,
    default_rules,
    fingerprint,
    resolve_metric,
)
from aicc.monitoring.alerting.templates import go_float, humanize, humanize_duration, render

SPEC_EXAMPLE = {
    "rule_name": "high_cpu_usage",
    "metric": "cpu_usage_percent",
    "threshold": 80,
    "operator": ">",
    "level": "warning",
}


def rule(**changes: Any) -> AlertRule:
    return AlertRule.model_validate({**SPEC_EXAMPLE, **changes})


def test_the_specs_example_body_is_a_valid_rule_with_prometheus_defaults() -> None:
    example = AlertRule.model_validate(SPEC_EXAMPLE)

    assert example.threshold == 80.0
    assert example.for_seconds == 0
    assert example.keep_firing_for_seconds == 0
    assert example.aggregation == "latest"
    assert example.window_seconds == 300
    assert example.by is None
    assert example.channels == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [(">", ">"), ("gt", ">"), ("GTE", ">="), ("lt", "<"), ("lte", "<="), ("eq", "=="),
     ("ne", "!="), ("!=", "!="), ("==", "==")],
)  # fmt: skip
def test_operators_accept_symbols_and_words(given: str, stored: str) -> None:
    assert rule(operator=given).operator == stored


def test_levels_are_case_insensitive_and_become_the_severity_label() -> None:
    critical = rule(level="CRITICAL")

    assert critical.level == "critical"
    assert dict(critical.alert_labels) == {"severity": "critical", "alertname": "high_cpu_usage"}


@pytest.mark.parametrize(
    "changes",
    [
        {"level": "error"},
        {"operator": "=~"},
        {"rule_name": ""},
        {"rule_name": "x" * 201},
        {"rule_name": "has space"},
        {"metric": "1bad"},
        {"threshold": float("nan")},
        {"threshold": float("inf")},
        {"for_seconds": -1},
        {"window_seconds": 0},
        {"window_seconds": 7200},
        {"aggregation": "p42"},
        {"unexpected": 1},
        {"labels": {"bad-name": "x"}},
        {"labels": {"severity": "x"}},
        {"labels": {"route": ""}},
        {"by": ["le"]},
        {"matchers": ["route"]},
        {"matchers": ['route=~"("']},
        {"annotations": {"summary": "{{ .Bogus }}"}},
        {"annotations": {"summary": "{{ $value "}},
        {"annotations": {"summary": '{{ printf "%d%d" $value }}'}},
        {"annotations": {"bad key": "x"}},
        {"channels": ["slack", "slack"]},
        {"metric": "aicc_api_duration_seconds", "aggregation": "latest"},
    ],
)
def test_invalid_rules_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rule(**changes)


def test_resolved_rules_name_the_spec_metric_and_keep_everything_else() -> None:
    example = rule(labels={"instance": "a"}, for_seconds=60)

    resolved = example.resolved(set())
    assert resolved.metric == "system_cpu_usage_percent"
    assert resolved.model_dump() == {**example.model_dump(), "metric": resolved.metric}
    assert resolved.resolved(set()) is resolved
    with pytest.raises(ValidationFailed):
        rule(metric="no_such_metric").resolved({"other"})


def test_rule_names_allow_the_prometheus_friendly_characters() -> None:
    assert rule(rule_name="team.A-1:cpu_high").rule_name == "team.A-1:cpu_high"


def test_histograms_default_to_p95_and_gauges_to_latest() -> None:
    assert rule(metric="aicc_api_duration_seconds").aggregation == "p95"
    assert rule(metric="api_duration_seconds").aggregation == "p95"
    assert rule(metric="aicc_connect_contacts_in_queue").aggregation == "latest"
    assert rule(metric="aicc_api_duration_seconds", aggregation="avg").histogram
    assert rule(metric="custom_latency", aggregation="p99").histogram
    assert not rule(metric="aicc_api_requests_total", aggregation="rate").histogram


def test_labels_and_matchers_become_the_rules_selector() -> None:
    chosen = rule(labels={"queue": "VIP"}, matchers=['channel=~"VOICE|CHAT"', "agent!=bot"])

    assert [m.promql() for m in chosen.selector] == [
        'queue="VIP"',
        'channel=~"VOICE|CHAT"',
        'agent!="bot"',
    ]
    assert dict(chosen.alert_labels)["queue"] == "VIP"


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("cpu_usage_percent", "system_cpu_usage_percent"),
        ("memory_usage_percent", "system_memory_usage_percent"),
        ("disk_usage_percent", "system_disk_usage_percent"),
        ("active_sessions", "aicc_active_sessions_total"),
        ("api_requests_total", "aicc_api_requests_total"),
        ("api_duration_seconds", "aicc_api_duration_seconds"),
        ("db_connections_active", "aicc_db_connections_active"),
        ("db_query_duration_seconds", "aicc_db_query_duration_seconds"),
        ("system_cpu_usage_percent", "system_cpu_usage_percent"),
        ("contacts_in_queue", "aicc_connect_contacts_in_queue"),
        ("jobs_queued", "aicc_jobs_queued"),
    ],
)
def test_short_metric_names_resolve_to_the_spec_names(short: str, full: str) -> None:
    known = {"aicc_connect_contacts_in_queue", "aicc_jobs_queued"}
    assert resolve_metric(short, known) == full


def test_an_unknown_metric_is_a_422_listing_the_known_ones() -> None:
    with pytest.raises(ValidationFailed) as caught:
        resolve_metric("cpu_usage_pct", {"aicc_connect_agents_online"})

    error = caught.value
    assert error.status_code == 422
    assert error.error_code == "unknown_metric"
    assert error.details == {"known": sorted({*SPEC_METRICS, "aicc_connect_agents_online"})}


def test_the_spec_defaults_are_installed_as_data() -> None:
    rules = {r.rule_name: r for r in default_rules()}
    summary = {
        name: (r.metric, r.operator, r.threshold, r.for_seconds, r.level, r.aggregation)
        for name, r in rules.items()
    }

    assert summary == {
        "cpu_usage_high": ("system_cpu_usage_percent", ">", 80, 300, "warning", "latest"),
        "memory_usage_high": ("system_memory_usage_percent", ">", 85, 300, "warning", "latest"),
        "disk_usage_high": ("system_disk_usage_percent", ">", 90, 60, "critical", "latest"),
        "api_response_time_high": ("aicc_api_duration_seconds", ">", 5, 180, "warning", "p95"),
    }
    assert rules["api_response_time_high"].by == ["service"]
    assert "high_cpu_usage" not in {body["rule_name"] for body in DEFAULT_RULES}


def test_annotations_render_value_threshold_and_labels() -> None:
    text = render(
        "{{ $labels.queue }}: {{ $value }} > {{ $threshold }} ({{ .Labels.queue }}, "
        '{{ $labels.missing }}, {{ printf "%.1f" $value }}, {{ $value | printf "%.0f%%" }})',
        value=91.25,
        labels={"queue": "VIP"},
        threshold=80.0,
    )

    assert text == "VIP: 91.25 > 80 (VIP, <no value>, 91.2, 91%)"


def test_values_print_as_go_prints_a_float64() -> None:
    assert [go_float(v) for v in (90.0, 91.2, 0.25, 1e21, 1.5e-05, 1e20, -3.0)] == [
        "90",
        "91.2",
        "0.25",
        "1e+21",
        "1.5e-05",
        "100000000000000000000",
        "-3",
    ]
    assert go_float(float("inf")) == "+Inf"


def test_humanize_functions_match_prometheus() -> None:
    assert [humanize(v) for v in (0.0, 1234.5, 1_500_000.0, 0.0012, 12.0)] == [
        "0",
        "1.234k",
        "1.5M",
        "1.2m",
        "12",
    ]
    assert render("{{ $value | humanizePercentage }}", value=0.256, labels={}, threshold=0) == (
        "25.6%"
    )
    assert [humanize_duration(v) for v in (90061.0, 3725.0, 65.0, 4.5, 0.25, 0.0)] == [
        "1d 1h 1m 1s",
        "1h 2m 5s",
        "1m 5s",
        "4.5s",
        "250ms",
        "0s",
    ]


def test_fingerprint_is_alertmanagers_fnv1a_of_the_sorted_label_set() -> None:
    # Test vectors of prometheus/common model.labelSetToFingerprint.
    assert fingerprint({}) == f"{14695981039346656037:016x}"
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == f"{5799056148416392346:016x}"
    assert fingerprint(tuple(labels.items())) == fingerprint(labels)
