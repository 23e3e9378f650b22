"""Dispatched alerts through the provider channels end to end: Slack gets a message per
notification, PagerDuty a trigger and then a resolve with the same ``dedup_key``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.support import ADMIN
from tests.monitoring.channels.fakes import FakePagerDuty, FakeSlack
from tests.monitoring.notify.conftest import Deployment
from tests.monitoring.notify.support import firing, resolved, set_routing, wait_for

ROUTING_KEY = "R0123456789abcdef0123456789abcde"
TIMINGS = {"group_wait": "0s", "group_interval": "1s"}


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    async with fake.running():
        yield fake


async def test_critical_pages_and_slacks_warning_only_slacks(
    monitoring_on: Deployment, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    http = monitoring_on.http
    channels = [
        {"name": "slack", "type": "slack", "settings": {"webhook_url": slack.hook()}},
        {
            "name": "pager",
            "type": "pagerduty",
            "settings": {"routing_key": ROUTING_KEY, "url": f"{pagerduty.url}/v2/enqueue"},
        },
    ]
    for body in channels:
        assert (await http.post("/alerts/channels", json=body, headers=ADMIN)).status_code == 201
    await set_routing(
        monitoring_on,
        {
            "route": {
                "receiver": "slack",
                "group_by": ["alertname", "severity"],
                **TIMINGS,
                "routes": [
                    {"receiver": "pager", "matchers": ['severity="critical"'], "continue": True},
                    {"receiver": "slack", "matchers": ['severity=~"warning|critical"']},
                ],
            }
        },
    )
    critical = firing("DiskFull", severity="critical")
    warning = firing("CpuHot", severity="warning")
    await monitoring_on.service.dispatch([critical, warning])
    await wait_for(lambda: len(slack.messages) == 2 and len(pagerduty.events) == 1)
    trigger = pagerduty.events[0]
    assert trigger["event_action"] == "trigger"
    assert "DiskFull" in trigger["payload"]["summary"]
    await monitoring_on.service.dispatch([resolved(critical)])
    await wait_for(lambda: len(pagerduty.events) == 2 and len(slack.messages) == 3)
    resolve = pagerduty.events[1]
    assert resolve["event_action"] == "resolve"
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert pagerduty.incidents == {trigger["dedup_key"]: "resolved"}
    assert "RESOLVED" in str(slack.messages[2]).upper()
