"""The Slack channel posts a readable message to an incoming webhook and reads Slack's
answers as Slack means them."""

from __future__ import annotations

import logging

import orjson
import pytest

from aicc.monitoring.channels import (
    ChannelConfig,
    ChannelContext,
    ChannelError,
    parse_channel_config,
    send,
)
from tests.integration.fakes.common import Fault
from tests.monitoring.channels.fakes import FakeSlack
from tests.monitoring.channels.samples import alert, notification


def slack_channel(url: str, **settings: str) -> ChannelConfig:
    return parse_channel_config(
        {"name": "ops-slack", "type": "slack", "settings": {"webhook_url": url, **settings}}
    )


def all_text(message: dict[str, object]) -> str:
    return orjson.dumps(message).decode()


async def test_firing_message_names_alerts_severity_summary_and_links(
    slack: FakeSlack, ctx: ChannelContext
) -> None:
    config = slack_channel(slack.hook(), channel="#alerts", username="AICC")
    firing = notification(
        alert("mon-1"),
        alert("mon-2", summary="CPU 97.5% on mon-2", runbook_url="https://wiki/cpu", value="97.5"),
    )

    result = await send(config, firing, ctx)

    (message,) = slack.messages
    assert message["text"] == ":fire: [FIRING:2] HighCPU (critical)"
    assert message["channel"] == "#alerts"
    assert message["username"] == "AICC"
    (attachment,) = message["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["fallback"] == message["text"]
    blocks = attachment["blocks"]
    assert (
        blocks[0]["text"]["text"] == "*<http://mon.example.com:8000|[FIRING:2] HighCPU (critical)>*"
    )
    first = blocks[1]["text"]["text"]
    assert first.startswith(":fire: *HighCPU* `critical` since 2026-11-26 18:00:00 UTC")
    assert "CPU 91.2% on mon-1" in first
    assert "system_cpu_usage_percent &gt; 80 for 5m" in first
    context = blocks[4]["elements"][0]["text"]
    assert "value: 97.5" in context
    assert "instance=mon-2" in context
    assert "<https://wiki/cpu|Runbook>" in context
    assert "<http://mon.example.com/alerts/rules/high_cpu?instance=mon-2|Source>" in context
    assert (result.sent, result.alerts) == (True, 2)


async def test_resolved_message_is_green_with_a_check_mark(
    slack: FakeSlack, ctx: ChannelContext
) -> None:
    await send(slack_channel(slack.hook()), notification(alert(status="resolved")), ctx)

    (message,) = slack.messages
    assert message["text"] == ":white_check_mark: [RESOLVED] HighCPU (mon-1 critical)"
    assert message["attachments"][0]["color"] == "good"
    section = message["attachments"][0]["blocks"][1]["text"]["text"]
    assert "resolved 2026-11-26 18:07:30 UTC" in section


@pytest.mark.parametrize(
    ("severity", "colour"), [("critical", "danger"), ("warning", "warning"), ("info", "#439FE0")]
)
async def test_firing_colour_follows_the_highest_severity(
    slack: FakeSlack, ctx: ChannelContext, severity: str, colour: str
) -> None:
    await send(slack_channel(slack.hook()), notification(alert(severity=severity)), ctx)

    assert slack.messages[0]["attachments"][0]["color"] == colour


async def test_label_and_annotation_text_cannot_inject_slack_markup(
    slack: FakeSlack, ctx: ChannelContext
) -> None:
    sneaky = alert(summary="<!channel> & <https://evil.example|click>")

    await send(slack_channel(slack.hook()), notification(sneaky), ctx)

    section = slack.messages[0]["attachments"][0]["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in section
    assert "<!channel>" not in all_text(slack.messages[0])


async def test_a_large_group_lists_ten_alerts_and_counts_the_rest(
    slack: FakeSlack, ctx: ChannelContext
) -> None:
    many = notification(*(alert(f"mon-{i}") for i in range(14)), truncated_alerts=3)

    await send(slack_channel(slack.hook()), many, ctx)

    blocks = slack.messages[0]["attachments"][0]["blocks"]
    assert sum(1 for b in blocks if b["type"] == "section") == 11
    assert blocks[-1]["elements"][0]["text"] == "… and 7 more alerts"
    assert len(blocks) <= 50


@pytest.mark.parametrize(
    ("fault", "retryable", "after", "said"),
    [
        (Fault(status=429, body=b"rate_limited", headers={"Retry-After": "7"}), True, 7.0, "429"),
        (Fault(status=500, body=b"rollup_error"), True, None, "rollup_error"),
        (Fault(status=410, body=b"channel_is_archived"), False, None, "channel_is_archived"),
        (Fault(status=403, body=b"action_prohibited"), False, None, "action_prohibited"),
        (Fault(status=200, body=b"invalid_token"), False, None, "invalid_token"),
    ],
)
async def test_slack_answers_are_classified(
    slack: FakeSlack,
    ctx: ChannelContext,
    fault: Fault,
    retryable: bool,
    after: float | None,
    said: str,
) -> None:
    slack.fail(fault)
    with pytest.raises(ChannelError) as failed:
        await send(slack_channel(slack.hook()), notification(), ctx)

    assert (failed.value.retryable, failed.value.retry_after) == (retryable, after)
    assert said in failed.value.message


async def test_unknown_hook_is_terminal_and_neither_error_nor_log_holds_the_url(
    slack: FakeSlack, ctx: ChannelContext, caplog: pytest.LogCaptureFixture
) -> None:
    # As configure_logging() does in the service at every LOG_LEVEL: the HTTP client's own
    # request line (which holds the URL) is below WARNING.
    caplog.set_level(logging.WARNING, logger="httpx2")
    caplog.set_level(logging.WARNING, logger="httpcore2")
    caplog.set_level(logging.DEBUG)
    url = slack.hook()
    slack.hooks.clear()
    token = url.rsplit("/", 1)[1]

    with pytest.raises(ChannelError) as failed:
        await send(slack_channel(url), notification(), ctx)
    slack.hooks.add(url.split("/services/", 1)[1])
    await send(slack_channel(url), notification(), ctx)

    # Records of this process, not the stand-in's own access log (uvicorn: Slack's side).
    ours = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("uvicorn")
    )
    assert not failed.value.retryable
    assert failed.value.message == "Slack answered 404: no_service"
    assert "notification not delivered" in ours
    assert "notification delivered" in ours
    assert token not in ours
    assert token not in repr(failed.value)


async def test_a_body_echoing_the_webhook_url_is_redacted_in_the_error(
    slack: FakeSlack, ctx: ChannelContext
) -> None:
    url = slack.hook()
    slack.fail(Fault(status=400, body=f"invalid_payload for {url}".encode()))

    with pytest.raises(ChannelError) as failed:
        await send(slack_channel(url), notification(), ctx)

    assert failed.value.message == "Slack answered 400: invalid_payload for ***"
