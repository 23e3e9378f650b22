"""The PagerDuty channel triggers and resolves one incident per alert group through the
Events API v2."""

from __future__ import annotations

import hashlib
import logging

import pytest

from aicc.monitoring.channels import (
    ChannelConfig,
    ChannelContext,
    ChannelError,
    dedup_key,
    parse_channel_config,
    send,
)
from tests.integration.fakes.common import Fault
from tests.monitoring.channels.fakes import FakePagerDuty
from tests.monitoring.channels.samples import GROUP_KEY, alert, notification

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


def pagerduty_channel(
    fake: FakePagerDuty, key: str = ROUTING_KEY, **settings: object
) -> ChannelConfig:
    return parse_channel_config(
        {
            "name": "pager",
            "type": "pagerduty",
            "settings": {"routing_key": key, "url": f"{fake.url}/v2/enqueue", **settings},
        }
    )


async def test_trigger_then_resolve_share_one_dedup_key_and_close_the_incident(
    pagerduty: FakePagerDuty, ctx: ChannelContext
) -> None:
    config = pagerduty_channel(pagerduty)
    firing = notification(alert("mon-1"))
    resolved = notification(alert("mon-1", status="resolved"))

    triggered = await send(config, firing, ctx)
    assert pagerduty.incidents == {dedup_key(firing): "triggered"}
    closed = await send(config, resolved, ctx)

    trigger, resolve = pagerduty.events
    expected = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert trigger["event_action"] == "trigger"
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": expected}
    assert trigger["dedup_key"] == expected
    assert pagerduty.incidents == {expected: "resolved"}
    assert triggered.detail == {
        "status_code": 202,
        "event_action": "trigger",
        "dedup_key": expected,
    }
    assert closed.detail["event_action"] == "resolve"


async def test_trigger_carries_summary_source_severity_details_and_links(
    pagerduty: FakePagerDuty, ctx: ChannelContext
) -> None:
    firing = notification(
        alert("mon-1", summary="CPU 91.2% on mon-1", runbook_url="https://wiki/cpu")
    )

    await send(pagerduty_channel(pagerduty), firing, ctx)

    (event,) = pagerduty.events
    payload = event["payload"]
    assert payload["summary"] == "[FIRING:1] HighCPU (mon-1 critical): CPU 91.2% on mon-1"
    assert payload["source"] == "mon-1"
    assert payload["severity"] == "critical"
    assert payload["class"] == "HighCPU"
    assert payload["timestamp"] == "2026-11-26T18:00:00Z"
    details = payload["custom_details"]
    assert (details["num_firing"], details["num_resolved"]) == (1, 0)
    assert details["firing"][0]["labels"]["instance"] == "mon-1"
    assert details["firing"][0]["starts_at"] == "2026-11-26T18:00:00Z"
    assert event["client"] == "AICC Monitoring"
    assert event["client_url"] == "http://mon.example.com:8000"
    assert {"href": "https://wiki/cpu", "text": "Runbook: HighCPU"} in event["links"]


@pytest.mark.parametrize(
    ("labels", "mapping", "expected"),
    [
        (["warning", "critical"], None, "critical"),
        (["warning", "info"], None, "warning"),
        (["page"], None, "error"),
        (["P1", "warning"], {"p1": "critical"}, "critical"),
        (["warning"], {"WARNING": "info"}, "info"),
    ],
)
async def test_severity_is_the_highest_of_the_firing_alerts_after_mapping(
    pagerduty: FakePagerDuty,
    ctx: ChannelContext,
    labels: list[str],
    mapping: dict[str, str] | None,
    expected: str,
) -> None:
    config = pagerduty_channel(pagerduty, severity=mapping)
    alerts = [alert(f"mon-{i}", severity=s) for i, s in enumerate(labels)]

    await send(config, notification(*alerts), ctx)

    assert pagerduty.events[0]["payload"]["severity"] == expected


async def test_summary_is_cut_to_pagerdutys_1024_characters(
    pagerduty: FakePagerDuty, ctx: ChannelContext
) -> None:
    long = notification(alert(summary="x" * 5000))

    await send(pagerduty_channel(pagerduty), long, ctx)

    summary = pagerduty.events[0]["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")


async def test_an_event_over_512_kb_drops_its_custom_details(
    pagerduty: FakePagerDuty, ctx: ChannelContext
) -> None:
    huge = notification(*(alert(f"mon-{i}", description="d" * 2000) for i in range(300)))

    await send(pagerduty_channel(pagerduty), huge, ctx)

    (request,) = pagerduty.calls("/v2/enqueue")
    details = pagerduty.events[0]["payload"]["custom_details"]
    assert len(request.body) < 512_000
    assert details["num_firing"] == 300
    assert "firing" not in details


async def test_invalid_event_is_terminal_with_pagerdutys_reason_and_no_key(
    pagerduty: FakePagerDuty, ctx: ChannelContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aicc")
    short_key = "shortkey-123456"

    with pytest.raises(ChannelError) as failed:
        await send(pagerduty_channel(pagerduty, key=short_key), notification(), ctx)

    assert not failed.value.retryable
    assert failed.value.status == 400
    assert failed.value.message == (
        "PagerDuty answered 400: Event object is invalid; "
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    )
    assert short_key not in caplog.text
    assert "notification not delivered" in caplog.text
    assert pagerduty.incidents == {}


@pytest.mark.parametrize(
    ("fault", "after"),
    [
        (Fault(status=429, body={"status": "throttle event"}, headers={"Retry-After": "30"}), 30.0),
        (Fault(status=429, body={"status": "throttle event"}), None),
        (Fault(status=502, body=b"<html>bad gateway</html>"), None),
        (Fault(status=500, body={"status": "error"}), None),
    ],
)
async def test_throttling_and_server_errors_are_retryable(
    pagerduty: FakePagerDuty, ctx: ChannelContext, fault: Fault, after: float | None
) -> None:
    pagerduty.fail(fault)
    with pytest.raises(ChannelError) as failed:
        await send(pagerduty_channel(pagerduty), notification(), ctx)

    assert failed.value.retryable
    assert failed.value.retry_after == after
    assert ROUTING_KEY not in str(failed.value)


async def test_a_retry_after_throttling_triggers_the_same_incident(
    pagerduty: FakePagerDuty, ctx: ChannelContext
) -> None:
    pagerduty.fail(Fault(status=429, body={"status": "throttle event"}))
    config = pagerduty_channel(pagerduty)
    with pytest.raises(ChannelError):
        await send(config, notification(), ctx)

    await send(config, notification(), ctx)
    await send(config, notification(alert("mon-1"), alert("mon-2")), ctx)

    assert [e["dedup_key"] for e in pagerduty.events] == [dedup_key(notification())] * 2
    assert len(pagerduty.incidents) == 1
