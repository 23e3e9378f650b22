"""The webhook channel posts Alertmanager's webhook JSON, byte for byte the fields a receiver
written for Alertmanager reads."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest

from aicc.monitoring.channels import (
    AlertItem,
    ChannelConfig,
    ChannelContext,
    ChannelError,
    parse_channel_config,
    send,
    webhook_payload,
)
from tests.integration.fakes.common import Fault
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.channels.samples import GROUP_KEY, alert, notification


def webhook(url: str, **settings: object) -> ChannelConfig:
    return parse_channel_config(
        {"name": "hook", "type": "webhook", "settings": {"url": url, **settings}}
    )


def test_payload_is_alertmanagers_webhook_message_field_for_field() -> None:
    kst = timezone(timedelta(hours=9))
    firing = AlertItem(
        status="firing",
        labels={"severity": "critical", "alertname": "HighCPU", "instance": "mon-1"},
        annotations={"summary": "CPU 91.2%"},
        starts_at=datetime(2026, 11, 27, 3, 0, 0, 500000, tzinfo=kst),
        ends_at=None,
        generator_url="http://mon:8000/alerts/rules/high_cpu",
        fingerprint="a1b2c3d4e5f60718",
    )
    resolved = AlertItem(
        status="resolved",
        labels={"alertname": "HighCPU", "instance": "mon-2", "severity": "critical"},
        annotations={},
        starts_at=datetime(2026, 11, 26, 18, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 26, 18, 5, tzinfo=UTC),
        generator_url="",
        fingerprint="0f1e2d3c4b5a6978",
    )
    message = notification(
        firing,
        resolved,
        common_labels={"severity": "critical", "alertname": "HighCPU"},
        common_annotations={},
        truncated_alerts=0,
    )

    payload = webhook_payload(message)

    assert payload == {
        "receiver": "oncall",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighCPU", "instance": "mon-1", "severity": "critical"},
                "annotations": {"summary": "CPU 91.2%"},
                "startsAt": "2026-11-26T18:00:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://mon:8000/alerts/rules/high_cpu",
                "fingerprint": "a1b2c3d4e5f60718",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighCPU", "instance": "mon-2", "severity": "critical"},
                "annotations": {},
                "startsAt": "2026-11-26T18:00:00Z",
                "endsAt": "2026-11-26T18:05:00Z",
                "generatorURL": "",
                "fingerprint": "0f1e2d3c4b5a6978",
            },
        ],
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://mon.example.com:8000",
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
    }
    assert list(payload) == [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ]
    assert list(payload["alerts"][0]["labels"]) == ["alertname", "instance", "severity"]


def test_max_alerts_keeps_the_first_alerts_and_counts_the_rest() -> None:
    message = notification(
        alert("mon-1", status="resolved"),
        alert("mon-2", status="resolved"),
        alert("mon-3"),
        common_labels={"alertname": "HighCPU", "severity": "critical"},
        truncated_alerts=2,
    )

    payload = webhook_payload(message, max_alerts=2)

    assert [a["labels"]["instance"] for a in payload["alerts"]] == ["mon-1", "mon-2"]
    assert payload["truncatedAlerts"] == 3
    assert payload["status"] == "resolved"
    assert payload["commonLabels"] == {"alertname": "HighCPU", "severity": "critical"}
    assert payload["commonAnnotations"] == {"description": "system_cpu_usage_percent > 80 for 5m"}
    assert webhook_payload(message, max_alerts=3)["truncatedAlerts"] == 2
    assert len(webhook_payload(message)["alerts"]) == 3


async def test_receiver_gets_the_payload_with_configured_headers(
    receiver: FakeReceiver, ctx: ChannelContext
) -> None:
    config = webhook(f"{receiver.url}/hooks/aicc", headers={"Authorization": "Bearer s3cr3t-tok"})
    firing = notification(alert("mon-1"), alert("mon-2"))

    result = await send(config, firing, ctx)

    (request,) = receiver.calls("/hooks/aicc", "POST")
    assert request.json() == webhook_payload(firing)
    assert request.headers["authorization"] == "Bearer s3cr3t-tok"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("AICC-Monitoring/")
    assert (result.sent, result.alerts, result.detail) == (True, 2, {"status_code": 200})


async def test_resolved_notification_is_posted_with_resolved_status_and_end_times(
    receiver: FakeReceiver, ctx: ChannelContext
) -> None:
    config = webhook(f"{receiver.url}/am")
    resolved = notification(alert("mon-1", status="resolved"))

    await send(config, resolved, ctx)

    (body,) = receiver.bodies
    assert body["status"] == "resolved"
    assert body["alerts"][0]["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2026-11-26T18:07:30.25Z"


async def test_without_send_resolved_only_firing_alerts_go_and_all_resolved_goes_nowhere(
    receiver: FakeReceiver, ctx: ChannelContext
) -> None:
    config = parse_channel_config(
        {
            "name": "quiet",
            "type": "webhook",
            "settings": {"url": f"{receiver.url}/am"},
            "send_resolved": False,
        }
    )

    mixed = await send(config, notification(alert("mon-1"), alert("mon-2", status="resolved")), ctx)
    skipped = await send(config, notification(alert("mon-1", status="resolved")), ctx)

    (body,) = receiver.bodies
    assert [a["labels"]["instance"] for a in body["alerts"]] == ["mon-1"]
    assert mixed.sent and mixed.alerts == 1
    assert not skipped.sent
    assert skipped.detail == {"skipped": "only resolved alerts and send_resolved is false"}


@pytest.mark.parametrize(
    ("fault", "retryable", "after"),
    [
        (Fault(status=503, body={"error": "down"}, headers={"Retry-After": "12"}), True, 12.0),
        (Fault(status=429, body=b"slow down"), True, None),
        (Fault(status=500, body=b""), True, None),
        (Fault(status=400, body={"error": "bad"}, headers={"Retry-After": "5"}), False, None),
        (Fault(status=404, body=b"not here"), False, None),
    ],
)
async def test_answers_are_classified_retryable_or_terminal(
    receiver: FakeReceiver,
    ctx: ChannelContext,
    fault: Fault,
    retryable: bool,
    after: float | None,
) -> None:
    receiver.fail(fault)
    with pytest.raises(ChannelError) as failed:
        await send(webhook(f"{receiver.url}/am"), notification(), ctx)

    assert failed.value.retryable is retryable
    assert failed.value.retry_after == after
    assert failed.value.status == fault.status
    assert failed.value.message.startswith(f"webhook answered {fault.status}")


async def test_retry_after_as_an_http_date_becomes_seconds(
    receiver: FakeReceiver, ctx: ChannelContext
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=90)
    receiver.fail(
        Fault(
            status=503,
            body=b"",
            headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")},
        )
    )
    with pytest.raises(ChannelError) as failed:
        await send(webhook(f"{receiver.url}/am"), notification(), ctx)

    assert failed.value.retry_after is not None
    assert 80 <= failed.value.retry_after <= 90


async def test_unreachable_receiver_is_retryable_and_the_url_stays_out_of_the_message(
    ctx: ChannelContext,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/token-abcdef123456"

    with pytest.raises(ChannelError) as failed:
        await send(webhook(url), notification(), ctx)

    assert failed.value.retryable
    assert "token-abcdef123456" not in str(failed.value)


async def test_cloud_metadata_address_is_refused_for_good(ctx: ChannelContext) -> None:
    config = webhook("http://169.254.169.254/latest/meta-data/iam-secret-path")

    with pytest.raises(ChannelError) as failed:
        await send(config, notification(), ctx)

    assert not failed.value.retryable
    assert "destination refused" in failed.value.message
    assert "iam-secret-path" not in failed.value.message
