"""A rule's alert travels the whole way: the evaluator fires it, the dispatcher groups it for
the rule's own channel, the notification job posts Alertmanager's webhook body, and the
resolution follows when the condition ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aicc.monitoring.app import create_app
from tests.asgi import serve_app
from tests.integration.support import ADMIN
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.notify.conftest import Deployment, monitoring_settings
from tests.monitoring.notify.support import add_webhook, set_routing, wait_for


@pytest.fixture
async def monitoring(tmp_path: Path) -> AsyncIterator[Deployment]:
    """The app with the periodic evaluator out of the way: the test runs each cycle."""
    app = create_app(monitoring_settings(tmp_path, {}, **{"monitoring.eval_interval": 3600}))
    async with serve_app(app) as client:
        yield Deployment(app.state.aicc_service, app, client)


async def test_a_firing_rule_notifies_its_channel_then_resolves(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    await add_webhook(monitoring, "ops-hook", f"{receiver.url}/alerts", send_resolved=True)
    await set_routing(monitoring, {"route": {"group_wait": "0s", "group_interval": "1s"}})
    rule = {
        "rule_name": "memory_is_used",
        "metric": "memory_usage_percent",
        "threshold": 0,
        "operator": ">",
        "level": "critical",
        "channels": ["ops-hook"],
        "annotations": {"summary": "memory at {{ $value }}%"},
    }
    created = await monitoring.http.post("/alerts/rules", json=rule, headers=ADMIN)
    assert created.status_code == 201, created.text
    await monitoring.service.evaluate_rules()
    await wait_for(lambda: len(receiver.bodies) >= 1)
    body = receiver.bodies[0]
    assert body["version"] == "4" and body["status"] == "firing"
    alert = body["alerts"][0]
    assert alert["labels"]["alertname"] == "memory_is_used"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"].startswith("memory at ")
    replaced = {**rule, "threshold": 100.5}
    answer = await monitoring.http.put("/alerts/rules/memory_is_used", json=replaced, headers=ADMIN)
    assert answer.status_code == 200
    await monitoring.service.evaluate_rules()
    await monitoring.service.flush_groups()
    await wait_for(lambda: any(b["status"] == "resolved" for b in receiver.bodies), timeout=15)


async def test_an_alert_is_notified_within_a_second_of_its_for_period_ending(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    settings = monitoring_settings(tmp_path, {}, **{"monitoring.eval_interval": 30})
    app = create_app(settings)
    async with serve_app(app) as http:
        deployment = Deployment(app.state.aicc_service, app, http)
        await add_webhook(deployment, "hook", f"{receiver.url}/alerts")
        await set_routing(deployment, {"route": {"receiver": "hook", "group_wait": "0s"}})
        rule = {
            "rule_name": "memory_for_two_seconds",
            "metric": "memory_usage_percent",
            "threshold": 0,
            "operator": ">",
            "level": "warning",
            "for_seconds": 2,
        }
        assert (await http.post("/alerts/rules", json=rule, headers=ADMIN)).status_code == 201
        started = time.time()
        await deployment.service.evaluate_rules(now=started)
        await wait_for(lambda: bool(receiver.bodies), timeout=10)
        arrived = time.time()
    assert receiver.bodies[0]["alerts"][0]["labels"]["alertname"] == "memory_for_two_seconds"
    assert 2.0 <= arrived - started < 3.0, "notified within a second of the for period's end"
