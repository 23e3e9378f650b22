"""Channel bodies are checked per type (422 naming the field), persist as plain JSON, and are
shown with their secrets masked."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from aicc.core.config import load_settings
from aicc.core.errors import ValidationFailed
from aicc.core.outgoing import UrlNotAllowed
from aicc.monitoring.channels import (
    MASK,
    PAGERDUTY_EVENTS_URL,
    ChannelConfig,
    PagerDutySettings,
    SlackSettings,
    SnsSettings,
    check_channel_urls,
    masked,
    parse_channel_config,
    restore_masked,
)

SLACK_URL = "https://hooks.slack.com/services/T0A1B2C3D/B9Z8Y7X6W/abcDEFghiJKLmnoPQRstuVWX"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
HOOK_TOKEN = "hook-token-4f9a8b7c6d5e"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.secret-part"

BODIES: dict[str, dict[str, Any]] = {
    "slack": {"webhook_url": SLACK_URL, "channel": "#alerts"},
    "pagerduty": {"routing_key": ROUTING_KEY},
    "sns": {"topic_arn": "arn:aws:sns:ap-northeast-2:123456789012:aicc-alerts"},
    "ses": {"from": "alerts@example.com", "to": ["oncall@example.com"]},
    "webhook": {
        "url": f"https://receiver.example.com/hooks/{HOOK_TOKEN}?sig=query-secret-991",
        "headers": {"Authorization": BEARER},
        "max_alerts": 10,
    },
}


def body(kind: str, **settings: Any) -> dict[str, Any]:
    return {"name": f"my-{kind}", "type": kind, "settings": {**BODIES[kind], **settings}}


def refused(data: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as failed:
        parse_channel_config(data)
    assert failed.value.status_code == 422
    return failed.value


@pytest.mark.parametrize("kind", list(BODIES))
def test_each_type_parses_and_round_trips_through_plain_json(kind: str) -> None:
    config = parse_channel_config(body(kind))

    stored = orjson.loads(orjson.dumps(config.to_dict()))

    assert config.send_resolved is True
    assert stored["settings"].items() >= BODIES[kind].items()
    assert parse_channel_config(stored) == config


def test_pagerduty_defaults_to_the_events_v2_endpoint() -> None:
    config = parse_channel_config(body("pagerduty"))

    assert isinstance(config.settings, PagerDutySettings)
    assert config.settings.url == PAGERDUTY_EVENTS_URL == "https://events.pagerduty.com/v2/enqueue"


def test_sns_region_defaults_to_the_topics_own() -> None:
    config = parse_channel_config(body("sns"))
    other = parse_channel_config(body("sns", region="us-east-1"))

    assert isinstance(config.settings, SnsSettings) and isinstance(other.settings, SnsSettings)
    assert (config.settings.topic_region, other.settings.topic_region) == (
        "ap-northeast-2",
        "us-east-1",
    )


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({**body("slack"), "settings": {}}, ["settings", "webhook_url"]),
        (body("slack", webhook_url="ftp://hooks.slack.com/x"), ["settings", "webhook_url"]),
        (body("slack", channel="#bad channel"), ["settings", "channel"]),
        (body("pagerduty", routing_key="too-short"), ["settings", "routing_key"]),
        (body("pagerduty", severity={"warning": "urgent"}), ["settings", "severity", "warning"]),
        (body("sns", topic_arn="arn:aws:sqs:ap-northeast-2:1:q"), ["settings", "topic_arn"]),
        (body("sns", region="seoul"), ["settings", "region"]),
        (body("ses", to=[]), ["settings", "to"]),
        (body("ses", to=["ok@example.com", "not-an-address"]), ["settings", "to"]),
        (body("ses", to=[f"u{i}@example.com" for i in range(51)]), ["settings", "to"]),
        (body("ses", **{"from": "nobody"}), ["settings", "from"]),
        (body("webhook", max_alerts=-1), ["settings", "max_alerts"]),
        (body("webhook", headers={"Content-Type": "text/plain"}), ["settings", "headers"]),
        (body("webhook", headers={"X-A": "one\r\nX-B: two"}), ["settings", "headers"]),
        (body("webhook", extra=1), ["settings", "extra"]),
        ({**body("slack"), "colour": "red"}, ["colour"]),
        ({**body("slack"), "type": "teams"}, ["type"]),
        ({**body("slack"), "name": "no spaces please"}, ["name"]),
        ({**body("slack"), "send_resolved": "sometimes"}, ["send_resolved"]),
    ],
)
def test_invalid_bodies_are_a_422_naming_the_field(data: dict[str, Any], loc: list[Any]) -> None:
    error = refused(data)

    assert loc in [d["loc"] for d in error.details]
    assert ".".join(str(p) for p in loc) in error.message


def test_a_custom_events_url_takes_a_routing_key_of_another_length() -> None:
    config = parse_channel_config(
        body("pagerduty", url="https://events.eu.pagerduty.example/v2/enqueue", routing_key="k1")
    )

    assert isinstance(config.settings, PagerDutySettings)
    assert config.settings.routing_key == "k1"


def test_settings_of_another_type_are_refused() -> None:
    error = refused({"name": "x", "type": "slack", "settings": BODIES["pagerduty"]})

    assert {tuple(d["loc"]) for d in error.details} == {
        ("settings", "webhook_url"),
        ("settings", "routing_key"),
    }


def test_a_refused_value_is_never_repeated_in_the_error() -> None:
    error = refused(body("slack", webhook_url=f"gopher://hooks.slack.com/{HOOK_TOKEN}"))

    assert HOOK_TOKEN not in error.message
    assert HOOK_TOKEN not in str(error.details)


def test_masked_slack_webhook_shows_host_and_team_initial_only() -> None:
    shown = masked(parse_channel_config(body("slack")))

    assert shown == {
        "name": "my-slack",
        "type": "slack",
        "settings": {
            "webhook_url": "https://hooks.slack.com/services/T…/***",
            "channel": "#alerts",
            "username": None,
        },
        "send_resolved": True,
    }


def test_masked_pagerduty_key_keeps_only_its_last_four_characters() -> None:
    shown = masked(parse_channel_config(body("pagerduty")))

    assert shown["settings"]["routing_key"] == "***d1a6"


def test_masked_webhook_hides_the_url_path_query_and_every_header_value() -> None:
    config = parse_channel_config(body("webhook"))

    shown = masked(config)
    text = orjson.dumps(shown).decode()

    assert shown["settings"]["url"] == "https://receiver.example.com/hooks/***"
    assert shown["settings"]["headers"] == {"Authorization": MASK}
    for secret in (HOOK_TOKEN, "query-secret-991", "secret-part"):
        assert secret not in text
        assert secret not in repr(config)


@pytest.mark.parametrize("kind", ["sns", "ses"])
def test_channels_without_secrets_are_shown_as_they_are(kind: str) -> None:
    config = parse_channel_config(body(kind))

    assert masked(config) == config.to_dict()


def test_a_masked_body_sent_back_keeps_the_stored_secrets() -> None:
    current = parse_channel_config(body("webhook"))
    echoed = masked(current)
    echoed["settings"]["max_alerts"] = 5
    echoed["settings"]["headers"]["X-Team"] = "contact-center"

    updated = parse_channel_config(restore_masked(echoed, current))

    assert updated.settings == current.settings.model_copy(
        update={"max_alerts": 5, "headers": {"Authorization": BEARER, "X-Team": "contact-center"}}
    )


def test_a_new_secret_replaces_the_stored_one() -> None:
    current = parse_channel_config(body("slack"))
    new_url = "https://hooks.slack.com/services/T1/B2/new-token-value"
    submitted = {**masked(current), "settings": {"webhook_url": new_url}}

    updated = parse_channel_config(restore_masked(submitted, current))

    assert isinstance(updated.settings, SlackSettings)
    assert updated.settings.webhook_url == new_url


def test_a_masked_secret_is_not_restored_into_a_channel_of_another_type() -> None:
    current = parse_channel_config(body("pagerduty"))
    submitted = {"name": "my-pagerduty", "type": "slack", "settings": {"webhook_url": MASK}}

    error = refused(restore_masked(submitted, current))

    assert [d["loc"] for d in error.details] == [["settings", "webhook_url"]]


async def test_a_url_to_the_cloud_metadata_address_is_refused_at_submission() -> None:
    config = parse_channel_config(body("webhook", url="http://169.254.169.254/latest/"))
    settings = load_settings({"http.allow_private_networks": True}, env_file=None)

    with pytest.raises(UrlNotAllowed) as failed:
        await check_channel_urls(config, settings)

    assert failed.value.details == [{"reason": "cloud_metadata", "field": "settings.url"}]


async def test_a_public_literal_address_passes_the_submission_check() -> None:
    config = parse_channel_config(body("pagerduty", url="https://203.0.113.7/v2/enqueue"))
    settings = load_settings(env_file=None)

    await check_channel_urls(config, settings)


def test_direct_construction_checks_settings_against_the_type() -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        ChannelConfig(
            name="x",
            type="slack",
            settings=PagerDutySettings(routing_key=ROUTING_KEY),
        )
