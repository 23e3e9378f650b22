from __future__ import annotations

import pytest

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alertmanager import RoutingConfig
from tests.monitoring.alertmanager.samples import ALERTMANAGER_YML, RECEIVERS


def receivers(config: RoutingConfig, labels: dict[str, str]) -> list[str]:
    return [m.receiver for m in config.match(labels)]


@pytest.fixture
def config() -> RoutingConfig:
    return RoutingConfig.from_yaml(ALERTMANAGER_YML)


def test_first_matching_child_wins_and_continue_lets_later_siblings_match(
    config: RoutingConfig,
) -> None:
    critical_recording = {"alertname": "HighLatency", "severity": "critical", "service": "rec-1"}
    assert receivers(config, critical_recording) == ["pagerduty-oncall", "slack-recording"]
    critical_auth = {"alertname": "HighLatency", "severity": "critical", "service": "auth"}
    assert receivers(config, critical_auth) == ["pagerduty-oncall", "slack-platform"]
    warning_auth = {"alertname": "HighLatency", "severity": "warning", "service": "auth"}
    assert receivers(config, warning_auth) == ["slack-platform"]


def test_an_alert_no_child_matches_goes_to_the_parent(config: RoutingConfig) -> None:
    assert receivers(config, {"alertname": "X", "severity": "debug"}) == ["slack-default"]
    nested_miss = {"alertname": "X", "severity": "warning", "service": "recording", "team": "db"}
    assert receivers(config, nested_miss) == ["slack-recording"]


def test_match_re_from_the_old_syntax_is_anchored(config: RoutingConfig) -> None:
    assert receivers(config, {"alertname": "X", "service": "auth"}) == ["slack-platform"]
    assert receivers(config, {"alertname": "X", "service": "authz"}) == ["slack-default"]


def test_children_inherit_what_they_do_not_set(config: RoutingConfig) -> None:
    labels = {"alertname": "DiskFull", "severity": "warning", "service": "rec", "team": "storage"}
    [storage] = config.match(labels)
    assert storage.receiver == "slack-storage"
    assert (storage.group_wait, storage.group_interval, storage.repeat_interval) == (30, 300, 3600)
    assert storage.group_labels == labels, "group_by ['...'] is inherited from the parent"
    [pager, _] = config.match({"alertname": "A", "severity": "critical", "service": "rec"})
    assert (pager.group_wait, pager.group_interval, pager.repeat_interval) == (10, 300, 14_400)


def test_group_by_picks_the_group_labels_and_the_group_key(config: RoutingConfig) -> None:
    labels = {"alertname": "CPU", "cluster": "seoul", "instance": "mon-1", "severity": "info"}
    [info] = config.match(labels)
    assert info.group_labels == {"alertname": "CPU", "cluster": "seoul"}
    assert info.group_key == '{}/{severity="info"}:{alertname="CPU", cluster="seoul"}'
    assert info.group_interval == 600


def test_group_by_all_labels_and_the_key_of_a_nested_route(config: RoutingConfig) -> None:
    labels = {"alertname": "A", "severity": "warning", "service": "rec", "team": "storage"}
    [match] = config.match(labels)
    assert match.group_key == (
        '{}/{service=~"rec.*",severity=~"critical|warning"}/{team="storage"}'
        ':{alertname="A", service="rec", severity="warning", team="storage"}'
    )


def test_without_group_by_a_route_has_one_group() -> None:
    config = RoutingConfig.from_json({"route": {"receiver": "all"}})
    [a] = config.match({"alertname": "A", "instance": "1"})
    [b] = config.match({"alertname": "B", "instance": "2"})
    assert a.group_key == b.group_key == "{}:{}"
    assert a.group_id == b.group_id
    assert (a.group_wait, a.group_interval, a.repeat_interval) == (30, 300, 14_400)


def test_alerts_in_different_groups_get_different_group_ids(config: RoutingConfig) -> None:
    [a] = config.match({"alertname": "A", "severity": "info"})
    [b] = config.match({"alertname": "B", "severity": "info"})
    [a_again] = config.match({"alertname": "A", "severity": "info", "instance": "x"})
    assert a.group_id != b.group_id
    assert a.group_id == a_again.group_id


def test_a_rules_channels_are_added_receivers_grouped_like_the_route(
    config: RoutingConfig,
) -> None:
    labels = {"alertname": "CPU", "cluster": "seoul", "severity": "info"}
    matches = config.match(labels, extra_receivers=["sns-ops", "email-team", "email-team"])
    assert [m.receiver for m in matches] == ["sns-ops", "email-team"]
    assert matches[1].group_key == matches[0].group_key
    assert matches[1].group_interval == 600
    assert matches[1].group_id != matches[0].group_id


def test_the_default_config_routes_only_to_the_rules_channels() -> None:
    config = RoutingConfig.default()
    labels = {"alertname": "HighCPU", "instance": "mon-1"}
    assert config.match(labels) == []
    [slack] = config.match(labels, extra_receivers=["slack"])
    assert slack.group_labels == {"alertname": "HighCPU"}
    assert (slack.group_wait, slack.group_interval, slack.repeat_interval) == (30, 300, 14_400)


def test_yaml_round_trip_keeps_the_meaning(config: RoutingConfig) -> None:
    again = RoutingConfig.from_yaml(config.to_yaml())
    assert again == config
    assert RoutingConfig.from_json(config.to_json()) == config
    assert config.resolve_timeout == 600
    dumped = config.to_json()
    assert dumped["route"]["routes"][2]["matchers"] == ['service=~"^(auth|integration)$"']
    assert dumped["inhibit_rules"][1] == {
        "source_matchers": ['alertname="ServiceDown"'],
        "target_matchers": ['alertname=~"High.*"'],
        "equal": ["service"],
    }
    assert dumped["global"] == {"resolve_timeout": "10m"}


def test_json_accepts_api_v2_matcher_objects() -> None:
    config = RoutingConfig.from_json(
        {
            "route": {
                "receiver": "default",
                "routes": [
                    {
                        "receiver": "pager",
                        "matchers": [{"name": "severity", "value": "critical", "isRegex": False}],
                    }
                ],
            }
        }
    )
    assert config.to_json()["route"]["routes"][0]["matchers"] == ['severity="critical"']
    assert [m.receiver for m in config.match({"severity": "critical"})] == ["pager"]


def test_receivers_are_checked_against_the_known_channels(config: RoutingConfig) -> None:
    config.check_receivers(RECEIVERS)
    with pytest.raises(ValidationFailed) as caught:
        config.check_receivers(["slack-default"])
    assert caught.value.error_code == "unknown_receiver"


@pytest.mark.parametrize(
    ("route", "code", "loc"),
    [
        ({"receiver": "a", "matchers": ["x=y"]}, "invalid_route", ["route"]),
        ({"receiver": "a", "continue": True}, "invalid_route", ["route"]),
        ({"receiver": "a", "group_by": ["...", "x"]}, "invalid_route", ["route", "group_by"]),
        ({"receiver": "a", "group_by": ["x", "x"]}, "invalid_route", ["route", "group_by"]),
        ({"receiver": "a", "group_wait": "30"}, "invalid_duration", ["route", "group_wait"]),
        (
            {"receiver": "a", "group_interval": "0s"},
            "invalid_duration",
            ["route", "group_interval"],
        ),
        (
            {"receiver": "a", "repeat_interval": "0"},
            "invalid_duration",
            ["route", "repeat_interval"],
        ),
        ({"receiver": "a", "recevier": "b"}, "unknown_field", ["route", "recevier"]),
        (
            {"receiver": "a", "routes": [{"mute_time_intervals": ["night"]}]},
            "unsupported_field",
            ["route", "routes", 0, "mute_time_intervals"],
        ),
        (
            {"receiver": "a", "routes": [{"matchers": ['sev="x']}]},
            "invalid_matcher",
            ["route", "routes", 0, "matchers", 0],
        ),
        (
            {"receiver": "a", "routes": [{"match_re": {"sev": "("}}]},
            "invalid_regex",
            ["route", "routes", 0, "match_re", "sev"],
        ),
    ],
)
def test_invalid_routes_are_422_naming_the_field(
    route: dict[str, object], code: str, loc: list[object]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        RoutingConfig.from_json({"route": route})
    assert caught.value.status_code == 422
    assert caught.value.error_code == code
    assert caught.value.details[0]["loc"] == loc


def test_invalid_yaml_and_missing_route_are_422() -> None:
    with pytest.raises(ValidationFailed) as caught:
        RoutingConfig.from_yaml("route: [unclosed")
    assert caught.value.error_code == "invalid_yaml"
    with pytest.raises(ValidationFailed) as caught:
        RoutingConfig.from_yaml("inhibit_rules: []")
    assert caught.value.details[0]["loc"] == ["route"]
