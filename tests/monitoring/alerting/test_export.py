"""The rules-file export: valid YAML of the Prometheus rule format, accepted by ``promtool check
rules``, and alerting exactly when our evaluator does under ``promtool test rules``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from aicc.monitoring.alerting import (
    AlertRule,
    RuleState,
    SampleStore,
    default_rules,
    duration,
    evaluate,
    rules_file,
)

MINUTE = 60
STEPS = 31


def promtool() -> str:
    """The promtool binary; locally a missing one skips, under ``CI=true`` it fails."""
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is not installed; install it with: apt-get install -y prometheus"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def body(**fields: Any) -> AlertRule:
    return AlertRule.model_validate({"operator": ">", "level": "warning", **fields})


RULES = [
    body(
        rule_name="cpu_high",
        metric="system_cpu_usage_percent",
        threshold=80,
        for_seconds=180,
        annotations={"summary": "{{ $labels.instance }} at {{ $value }}% > {{ $threshold }}%"},
    ),
    body(
        rule_name="cpu_flapping",
        metric="system_cpu_usage_percent",
        threshold=80,
        operator=">=",
        level="critical",
        keep_firing_for_seconds=120,
        matchers=['instance=~"node-[12]"'],
    ),
    body(
        rule_name="cpu.low:idle",
        metric="system_cpu_usage_percent",
        threshold=20,
        operator="lte",
        level="info",
        labels={"instance": "node-3"},
    ),
    body(
        rule_name="requests_busy",
        metric="aicc_api_requests_total",
        threshold=0.5,
        aggregation="rate",
        window_seconds=270,
        by=["service"],
        annotations={"summary": '{{ $labels.service }}: {{ printf "%.3f" $value }} req/s'},
    ),
    body(
        rule_name="requests_jump",
        metric="aicc_api_requests_total",
        threshold=40,
        aggregation="increase",
        window_seconds=270,
    ),
    body(
        rule_name="latency_p95",
        metric="aicc_api_duration_seconds",
        threshold=0.4,
        for_seconds=60,
        window_seconds=270,
        by=["service"],
        annotations={"description": "p95 {{ $value | humanizeDuration }}"},
    ),
    body(
        rule_name="latency_mean",
        metric="aicc_api_duration_seconds",
        threshold=0.3,
        aggregation="avg",
        window_seconds=210,
        annotations={"description": "{{ $value | humanize }}s"},
    ),
    body(
        rule_name="memory_avg",
        metric="system_memory_usage_percent",
        threshold=85,
        aggregation="avg",
        window_seconds=270,
        annotations={"summary": '{{ $value | printf "%.2f" }}'},
    ),
]


Value = float | None | Literal["stale"]


def inputs() -> dict[str, list[Value]]:
    """Series (PromQL selector → value per minute; None is a missing sample, "stale" a
    staleness marker)."""
    cpu1 = [70, 85, 90, 90, 95, 60, 90, 90, 90, 90, 50, 85, 50, 50, 50, 50] + [90] * 15
    counter_a: list[float] = [100 + 40 * i for i in range(STEPS)]
    counter_a[12:] = [5 + 40 * i for i in range(STEPS - 12)]
    counter_b = [1000 + (10 * i if i < 15 else 150 + 60 * (i - 15)) for i in range(STEPS)]
    stale: list[Value] = ["stale"]
    missing: list[Value] = [None] * 10
    node2: list[Value] = [81.0] * 20 + stale + missing
    series: dict[str, list[Value]] = {
        'system_cpu_usage_percent{instance="node-1"}': [float(v) for v in cpu1],
        'system_cpu_usage_percent{instance="node-2"}': node2,
        'system_cpu_usage_percent{instance="node-3"}': [15.0 + (i % 4) * 3 for i in range(STEPS)],
        "system_memory_usage_percent": [80.0 + (i % 7) * 2.1 for i in range(STEPS)],
        'aicc_api_requests_total{service="auth",route="/login"}': [float(v) for v in counter_a],
        'aicc_api_requests_total{service="auth",route="/me"}': [float(v) for v in counter_b],
        'aicc_api_requests_total{service="recording",route="/r"}': [3.0 * i for i in range(STEPS)],
    }
    for service, slow_from in (("auth", 10), ("recording", 99)):
        bounds = {"0.1": 0.6, "0.5": 0.9, "1": 0.97, "+Inf": 1.0}
        for bound, share in bounds.items():
            values: list[Value] = []
            total = 500.0
            for i in range(STEPS):
                slow = i >= slow_from
                total += 20 * (share if not slow or bound == "+Inf" else share / 3)
                values.append(round(total, 6))
            series[f'aicc_api_duration_seconds_bucket{{service="{service}",le="{bound}"}}'] = values
        series[f'aicc_api_duration_seconds_count{{service="{service}"}}'] = [
            500.0 + 20 * (i + 1) for i in range(STEPS)
        ]
        series[f'aicc_api_duration_seconds_sum{{service="{service}"}}'] = [
            100.0 + 20 * (i + 1) * (0.2 if i < slow_from else 0.45) for i in range(STEPS)
        ]
    return series


def parse_selector(selector: str) -> tuple[str, dict[str, str]]:
    name, _, rest = selector.partition("{")
    labels = {}
    for pair in filter(None, rest.rstrip("}").split(",")):
        key, _, value = pair.partition("=")
        labels[key] = value.strip('"')
    return name, labels


def our_firing_alerts() -> dict[tuple[str, int], list[dict[str, Any]]]:
    """(rule, minute) → the alerts our evaluator has firing, as promtool expects them."""
    store = SampleStore()
    series = inputs()
    states: dict[str, RuleState | None] = {rule.rule_name: None for rule in RULES}
    expected: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for minute in range(STEPS):
        now = float(minute * MINUTE)
        for selector, values in series.items():
            value = values[minute]
            name, labels = parse_selector(selector)
            if value == "stale":
                store.mark_stale(name, labels, now)
            elif value is not None:
                store.add(name, labels, value, now)
        for rule in RULES:
            result = evaluate(rule, store, states[rule.rule_name], now, interval=MINUTE)
            states[rule.rule_name] = result.state
            expected[(rule.rule_name, minute)] = [
                {
                    "exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                    "exp_annotations": a.annotations,
                }
                for a in result.alerts
                if a.state == "firing"
            ]
    return expected


def test_the_rules_file_is_the_prometheus_rule_format() -> None:
    rule = body(
        rule_name="api_slow",
        metric="aicc_api_duration_seconds",
        threshold=5,
        for_seconds=180,
        keep_firing_for_seconds=90,
        labels={"service": "recording"},
        matchers=['route!="/health"'],
        by=["service"],
        annotations={"summary": "over {{ $threshold }} s: {{ $value }}", "runbook": "x"},
    )

    loaded = yaml.safe_load(rules_file([rule], group="team", interval_seconds=15))

    assert loaded == {
        "groups": [
            {
                "name": "team",
                "interval": "15s",
                "rules": [
                    {
                        "alert": "api_slow",
                        "expr": "histogram_quantile(0.95, sum by (le, service) (rate("
                        'aicc_api_duration_seconds_bucket{service="recording", '
                        'route!="/health"}[5m]))) > 5',
                        "for": "3m",
                        "keep_firing_for": "1m30s",
                        "labels": {"service": "recording", "severity": "warning"},
                        "annotations": {"summary": "over 5 s: {{ $value }}", "runbook": "x"},
                    }
                ],
            }
        ]
    }


def test_durations_use_prometheus_units() -> None:
    assert [duration(s) for s in (0, 15, 60, 90, 300, 5400, 86400, 1.5)] == [
        "0s",
        "15s",
        "1m",
        "1m30s",
        "5m",
        "1h30m",
        "1d",
        "1s500ms",
    ]


def test_promtool_accepts_the_exported_rules(tmp_path: Path) -> None:
    binary = promtool()
    path = tmp_path / "rules.yml"
    path.write_text(rules_file([*default_rules(), *RULES], interval_seconds=15))

    checked = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES) + 4} rules found" in checked.stdout


def test_prometheus_fires_the_exported_rules_exactly_when_our_evaluator_does(
    tmp_path: Path,
) -> None:
    binary = promtool()
    (tmp_path / "rules.yml").write_text(rules_file(RULES))
    expected = our_firing_alerts()
    fired = {rule for (rule, _), alerts in expected.items() if alerts}
    assert fired == {rule.rule_name for rule in RULES}, "every rule must fire at some point"
    values = {
        selector: " ".join("_" if v is None else str(v) for v in series)
        for selector, series in inputs().items()
    }
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in values.items()],
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": rule, "exp_alerts": alerts}
                    for (rule, minute), alerts in expected.items()
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))

    ran = subprocess.run(
        [binary, "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-6000:]
