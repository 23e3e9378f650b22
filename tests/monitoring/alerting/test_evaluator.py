"""Prometheus' alert state machine: every transition, sending, labels, and restarts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from aicc.monitoring.alerting import (
    AlertRule,
    Evaluation,
    RuleState,
    SampleStore,
    evaluate,
    fingerprint,
)

MINUTE = 60.0


def cpu_rule(**changes: Any) -> AlertRule:
    body = {
        "rule_name": "cpu_high",
        "metric": "system_cpu_usage_percent",
        "threshold": 80,
        "operator": ">",
        "level": "warning",
        **changes,
    }
    return AlertRule.model_validate(body)


class Run:
    """One rule evaluated every ``step`` seconds over a gauge that the test sets."""

    def __init__(self, rule: AlertRule, *, step: float = MINUTE, **kw: Any) -> None:
        self.rule, self.step, self.kw = rule, step, kw
        self.store = SampleStore()
        self.state: RuleState | None = None
        self.now = 0.0
        self.log: list[Evaluation] = []

    def eval(self, value: float | None, **labels: str) -> Evaluation:
        """Set the gauge (None: no new point) at the next evaluation time, then evaluate."""
        if value is not None:
            self.store.add("system_cpu_usage_percent", labels, value, self.now)
        result = evaluate(self.rule, self.store, self.state, self.now, **self.kw)
        self.state = result.state
        self.log.append(result)
        self.now += self.step
        return result

    def series(self, values: Sequence[float | None]) -> list[str]:
        return [states(self.eval(v)) for v in values]


def states(result: Evaluation) -> str:
    return ",".join(a.state for a in result.alerts) or "-"


def moves(result: Evaluation) -> list[tuple[str, str]]:
    return [(t.from_state, t.to_state) for t in result.transitions]


def test_fires_after_for_of_continuous_truth() -> None:
    run = Run(cpu_rule(for_seconds=300))

    assert run.series([90] * 7) == ["pending"] * 5 + ["firing"] * 2
    assert moves(run.log[0]) == [("inactive", "pending")]
    assert moves(run.log[5]) == [("pending", "firing")]
    firing = run.log[5].alerts[0]
    assert (firing.active_at, firing.fired_at) == (0.0, 300.0)


def test_one_false_evaluation_resets_pending_and_it_never_notifies() -> None:
    run = Run(cpu_rule(for_seconds=300))

    observed = run.series([90, 90, 90, 50, 90, 90, 90, 90, 90, 90])
    assert observed == ["pending"] * 3 + ["-"] + ["pending"] * 5 + ["firing"]
    assert moves(run.log[3]) == [("pending", "inactive")]
    assert run.log[4].alerts[0].active_at == 240.0
    assert all(not r.to_send for r in run.log[:9])
    assert [a.status for a in run.log[9].to_send] == ["firing"]


def test_for_zero_fires_on_the_first_evaluation_and_for_one_minute_on_the_second() -> None:
    at_once = Run(cpu_rule())
    assert at_once.series([95]) == ["firing"]
    assert moves(at_once.log[0]) == [("inactive", "pending"), ("pending", "firing")]

    one_minute = Run(cpu_rule(for_seconds=60))
    assert one_minute.series([95, 95]) == ["pending", "firing"]


def test_keep_firing_for_holds_a_firing_alert_after_the_condition_clears() -> None:
    run = Run(cpu_rule(for_seconds=300, keep_firing_for_seconds=120))

    observed = run.series([90] * 7 + [50, 50, 50, 50])
    assert observed[5:] == ["firing", "firing", "firing", "firing", "-", "-"]
    assert run.log[8].alerts[0].keep_firing_since == 420.0
    assert moves(run.log[9]) == [("firing", "resolved")]


def test_keep_firing_restarts_when_the_condition_holds_again() -> None:
    run = Run(cpu_rule(keep_firing_for_seconds=120))

    assert run.series([90, 50, 90, 50, 50, 50]) == ["firing"] * 5 + ["-"]
    assert run.log[2].alerts[0].keep_firing_since is None
    assert run.log[2].alerts[0].fired_at == 0.0


def test_a_pending_alert_gets_no_keep_firing_grace() -> None:
    run = Run(cpu_rule(for_seconds=300, keep_firing_for_seconds=600))

    assert run.series([90, 50]) == ["pending", "-"]


def test_resolved_is_sent_at_once_then_every_resend_delay_until_dropped_after_15_minutes() -> None:
    run = Run(cpu_rule(), step=15.0, interval=15.0, resend_delay=60.0)
    run.eval(90)
    resolved = run.eval(50)

    assert [(a.status, a.starts_at, a.ends_at) for a in resolved.to_send] == [
        ("resolved", 0.0, 15.0)
    ]
    assert moves(resolved) == [("firing", "resolved")]
    sent_at: list[float] = []
    while run.now <= 15.0 + 900.0:
        if run.eval(50).to_send:
            sent_at.append(run.now - run.step)
    assert sent_at == [90.0 + 75.0 * i for i in range(12)]
    assert run.state is not None and len(run.state.alerts) == 1
    run.eval(50)
    assert run.state.alerts == {}


def test_a_resolved_alert_that_becomes_true_again_starts_a_new_pending() -> None:
    run = Run(cpu_rule(for_seconds=120))
    run.series([90, 90, 90, 50])

    again = run.eval(90)
    assert moves(again) == [("resolved", "pending")]
    assert (again.alerts[0].state, again.alerts[0].active_at) == ("pending", 240.0)
    assert run.series([90, 90]) == ["pending", "firing"]
    assert run.log[-1].to_send[0].starts_at == 360.0


def test_firing_is_sent_once_then_again_after_the_resend_delay_ending_after_four_intervals() -> (
    None
):
    run = Run(cpu_rule(), step=15.0, interval=15.0, resend_delay=60.0)
    sent = [run.eval(90).to_send for _ in range(7)]

    assert [len(s) for s in sent] == [1, 0, 0, 0, 0, 1, 0]
    first = sent[0][0]
    assert (first.status, first.starts_at, first.ends_at) == ("firing", 0.0, 240.0)
    assert first.to_alertmanager() == {
        "labels": {"alertname": "cpu_high", "severity": "warning"},
        "annotations": {},
        "startsAt": "1970-01-01T00:00:00.000Z",
        "endsAt": "1970-01-01T00:04:00.000Z",
        "generatorURL": "",
    }
    slow = Run(cpu_rule(), interval=90.0, resend_delay=60.0)
    assert slow.eval(90).to_send[0].ends_at == 360.0


def test_one_alert_per_matching_series_with_series_and_rule_labels() -> None:
    rule = cpu_rule(
        labels={"service": "recording"},
        matchers=['instance=~"node-.*"'],
        annotations={"summary": "{{ $labels.instance }} at {{ $value }}% (> {{ $threshold }})"},
    )
    store = SampleStore()
    for instance, value in (("node-1", 91.5), ("node-2", 70.0), ("node-3", 85.0)):
        store.add("system_cpu_usage_percent", {"service": "recording", "instance": instance},
                  value, 0.0)  # fmt: skip
    store.add("system_cpu_usage_percent", {"service": "auth", "instance": "node-9"}, 99, 0.0)
    store.add("system_cpu_usage_percent", {"service": "recording", "instance": "db"}, 99, 0.0)

    result = evaluate(rule, store, None, 0.0, external_url="http://mon:8000/")

    labels = {
        "alertname": "cpu_high",
        "severity": "warning",
        "service": "recording",
        "instance": "node-1",
    }
    assert [a.labels for a in result.alerts] == [labels, {**labels, "instance": "node-3"}]
    assert [a.annotations["summary"] for a in result.alerts] == [
        "node-1 at 91.5% (> 80)",
        "node-3 at 85% (> 80)",
    ]
    assert result.alerts[0].fingerprint == fingerprint(labels)
    assert set(result.state.alerts) == {a.fingerprint for a in result.alerts}
    assert result.to_send[0].generator_url == "http://mon:8000/alerts/rules/cpu_high"


def test_annotations_and_value_follow_the_latest_evaluation() -> None:
    run = Run(cpu_rule(for_seconds=120, annotations={"summary": "{{ $value }}"}))
    run.series([90, 95])

    assert (run.log[-1].alerts[0].value, run.log[-1].alerts[0].annotations) == (
        95.0,
        {"summary": "95"},
    )
    assert run.log[-1].alerts[0].active_at == 0.0


def test_a_rule_labels_value_is_added_to_alerts_even_when_by_drops_it() -> None:
    rule = cpu_rule(labels={"queue": "VIP"}, by=["channel"], aggregation="latest")
    store = SampleStore()
    store.add("system_cpu_usage_percent", {"queue": "VIP", "channel": "VOICE", "a": "1"}, 50, 0)
    store.add("system_cpu_usage_percent", {"queue": "VIP", "channel": "VOICE", "a": "2"}, 40, 0)

    result = evaluate(rule, store, None, 0.0)

    assert [(a.labels, a.value) for a in result.alerts] == [
        ({"channel": "VOICE", "queue": "VIP", "severity": "warning", "alertname": "cpu_high"}, 90)
    ]


@pytest.mark.parametrize(
    ("operator", "threshold", "fires"),
    [(">", 80, False), (">=", 80, True), ("<", 81, True), ("<=", 79, False),
     ("==", 80, True), ("!=", 80, False)],
)  # fmt: skip
def test_each_operator_compares_value_with_threshold(
    operator: str, threshold: float, fires: bool
) -> None:
    run = Run(cpu_rule(operator=operator, threshold=threshold))

    assert (run.series([80]) == ["firing"]) is fires


def test_a_firing_alert_resolves_when_its_series_goes_stale() -> None:
    run = Run(cpu_rule())

    assert run.series([90, None, None, None, None, None]) == ["firing"] * 5 + ["-"]
    assert moves(run.log[5]) == [("firing", "resolved")]


def test_a_restart_that_reloads_the_state_neither_refires_nor_forgets() -> None:
    run = Run(cpu_rule(for_seconds=120), step=15.0, interval=15.0)
    run.series([90] * 10)
    assert run.state is not None
    saved = json.loads(json.dumps(run.state.to_dict()))
    fired_at = run.log[-1].alerts[0].fired_at

    run.state = RuleState.from_dict(saved)
    after = run.eval(90)
    assert (moves(after), after.to_send, after.alerts[0].fired_at) == ([], [], fired_at)

    run.state = RuleState.from_dict(json.loads(json.dumps(run.state.to_dict())))
    resolved = run.eval(10)
    assert [a.status for a in resolved.to_send] == ["resolved"]


def test_after_a_restart_evaluation_waits_for_the_store_to_cover_min_coverage() -> None:
    run = Run(cpu_rule(), step=15.0, interval=15.0)
    run.series([90, 90])
    assert run.state is not None
    saved = json.loads(json.dumps(run.state.to_dict()))

    store = SampleStore()
    empty = evaluate(run.rule, store, RuleState.from_dict(saved), 30.0, min_coverage=30.0)
    store.add("system_cpu_usage_percent", {}, 90, 45.0)
    early = evaluate(run.rule, store, RuleState.from_dict(saved), 60.0, min_coverage=30.0)
    store.add("system_cpu_usage_percent", {}, 90, 75.0)
    ready = evaluate(run.rule, store, early.state, 75.0, min_coverage=30.0)

    assert (empty.skipped, early.skipped, ready.skipped) == (True, True, False)
    assert early.state.to_dict() == saved
    assert (early.to_send, early.transitions) == ([], [])
    assert [(a.state, a.fired_at) for a in ready.alerts] == [("firing", 0.0)]
    assert ready.transitions == []
    assert [a.status for a in ready.to_send] == ["firing"]


def test_an_infinite_value_survives_strict_json() -> None:
    run = Run(cpu_rule())
    run.eval(float("inf"))
    assert run.state is not None

    text = json.dumps(run.state.to_dict(), allow_nan=False)
    restored = RuleState.from_dict(json.loads(text))
    assert [a.value for a in restored.alerts.values()] == [float("inf")]
    assert run.log[0].alerts[0].to_dict()["value"] == "+Inf"


def test_a_pending_timer_survives_a_restart() -> None:
    run = Run(cpu_rule(for_seconds=300))
    run.series([90, 90, 90])
    assert run.state is not None

    run.state = RuleState.from_dict(json.loads(json.dumps(run.state.to_dict())))
    assert run.series([90, 90, 90]) == ["pending", "pending", "firing"]


def test_raising_for_sends_a_young_firing_alert_back_to_pending() -> None:
    run = Run(cpu_rule(for_seconds=60))
    run.series([90, 90, 90])

    run.rule = cpu_rule(for_seconds=600)
    again = run.eval(90)
    assert moves(again) == [("firing", "pending")]
    assert again.alerts[0].fired_at is None


def test_two_results_with_one_label_set_are_an_error_that_changes_nothing() -> None:
    run = Run(cpu_rule())
    run.eval(90, severity="a")
    before = run.state

    run.store.add("system_cpu_usage_percent", {"severity": "b"}, 95, run.now)
    failed = evaluate(run.rule, run.store, before, run.now)

    assert failed.error is not None and "same labelset" in failed.error
    assert before is not None
    assert failed.state.alerts == before.alerts
    assert (failed.to_send, failed.transitions) == ([], [])


def test_evaluate_leaves_the_given_state_untouched() -> None:
    run = Run(cpu_rule(for_seconds=60))
    run.eval(90)
    assert run.state is not None
    snapshot = run.state.to_dict()

    evaluate(run.rule, run.store, run.state, 60.0)
    assert run.state.to_dict() == snapshot


def test_the_state_of_another_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="state of"):
        evaluate(cpu_rule(), SampleStore(), RuleState("other"), 0.0)


def test_p95_rule_fires_per_service_over_the_histogram() -> None:
    rule = AlertRule.model_validate(
        {"rule_name": "slow", "metric": "aicc_api_duration_seconds", "threshold": 5,
         "operator": ">", "level": "warning", "by": ["service"], "window_seconds": 60}
    )  # fmt: skip
    store = SampleStore()
    for step, at in enumerate((15.0, 30.0, 45.0, 60.0)):
        for service, slow in (("recording", 90), ("auth", 2)):
            for bound, count in (("1", 100 - slow), ("5", 100 - slow), ("10", 100), ("+Inf", 100)):
                labels = {"service": service, "route": "/r", "le": bound}
                store.add("aicc_api_duration_seconds_bucket", labels, count * step, at)

    result = evaluate(rule, store, None, 60.0)

    assert [a.labels["service"] for a in result.alerts] == ["recording"]
    assert result.alerts[0].value == pytest.approx(5 + 5 * (95 - 10) / 90)
