"""Alerts dispatched → grouped → notified through a webhook stand-in, with Alertmanager's
timings; resolved notifications; silenced and inhibited alerts left out; rule channels."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aicc.monitoring.alertmanager import format_time
from aicc.monitoring.app import create_app
from aicc.monitoring.notify_store import load_alerts
from tests.asgi import serve_app
from tests.integration.support import ADMIN
from tests.monitoring.channels.fakes import FakeReceiver
from tests.monitoring.notify.conftest import Deployment, monitoring_settings
from tests.monitoring.notify.support import add_webhook, firing, resolved, set_routing, wait_for


async def test_a_group_waits_then_notifies_firing_and_resolved(
    monitoring_on: Deployment, receiver: FakeReceiver
) -> None:
    service = monitoring_on.service
    await add_webhook(monitoring_on, "hook", f"{receiver.url}/am")
    await set_routing(
        monitoring_on,
        {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            }
        },
    )
    cpu_a, cpu_b = firing(instance="a"), firing(instance="b")
    assert await service.dispatch([cpu_a, cpu_b]) == []
    await asyncio.sleep(0.5)
    assert receiver.bodies == []
    await wait_for(lambda: len(receiver.bodies) == 1)
    body = receiver.bodies[0]
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "hook"
    assert body["groupKey"] == '{}:{alertname="HighCPU"}'
    assert body["groupLabels"] == {"alertname": "HighCPU"}
    assert sorted(a["fingerprint"] for a in body["alerts"]) == sorted(
        [cpu_a.fingerprint, cpu_b.fingerprint]
    )
    assert all(a["endsAt"] == "0001-01-01T00:00:00Z" for a in body["alerts"])
    await service.dispatch([resolved(cpu_a)])
    await wait_for(lambda: len(receiver.bodies) == 2)
    second = receiver.bodies[1]
    assert second["status"] == "firing"
    statuses = {a["labels"]["instance"]: a["status"] for a in second["alerts"]}
    assert statuses == {"a": "resolved", "b": "firing"}
    await service.dispatch([resolved(cpu_b)])
    await wait_for(lambda: len(receiver.bodies) == 3)
    assert receiver.bodies[2]["status"] == "resolved"
    assert [a["labels"]["instance"] for a in receiver.bodies[2]["alerts"]] == ["b"]
    await asyncio.sleep(1.5)
    assert len(receiver.bodies) == 3
    assert await service.flush_groups() == []


async def test_group_wait_zero_notifies_at_once_and_repeats_only_later(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    await add_webhook(monitoring, "hook", f"{receiver.url}/am")
    await set_routing(monitoring, {"route": {"receiver": "hook", "group_wait": "0s"}})
    alert = firing()
    sent = await monitoring.service.dispatch([alert])
    assert [n.reason.value for n in sent] == ["first notification"]
    await wait_for(lambda: len(receiver.bodies) == 1)
    assert await monitoring.service.dispatch([alert]) == []
    assert await monitoring.service.flush_groups(now=time.time() + 301) == []
    repeat = await monitoring.service.flush_groups(now=time.time() + 4 * 3600 + 302)
    assert [n.reason.value for n in repeat] == ["repeat interval elapsed"]


async def test_silenced_alerts_are_not_notified_until_the_silence_ends(
    monitoring_on: Deployment, receiver: FakeReceiver
) -> None:
    service = monitoring_on.service
    await add_webhook(monitoring_on, "hook", f"{receiver.url}/am")
    await set_routing(
        monitoring_on,
        {"route": {"receiver": "hook", "group_wait": "0s", "group_interval": "1s"}},
    )
    now = time.time()
    silence = await service.create_silence(
        {
            "matchers": [{"name": "alertname", "value": "HighCPU", "isRegex": False}],
            "startsAt": format_time(now - 1),
            "endsAt": format_time(now + 3600),
            "createdBy": "ops",
            "comment": "maintenance",
        }
    )
    alert = firing()
    assert await service.dispatch([alert]) == []
    listed = (await monitoring_on.http.get("/api/v2/alerts", headers=ADMIN)).json()
    assert listed[0]["status"] == {
        "state": "suppressed",
        "silencedBy": [silence.id],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    hidden = await monitoring_on.http.get(
        "/api/v2/alerts", params={"silenced": "false"}, headers=ADMIN
    )
    assert hidden.json() == []
    await asyncio.sleep(1.5)
    assert receiver.bodies == []
    await service.expire_silence(silence.id)
    await wait_for(lambda: len(receiver.bodies) == 1)
    assert receiver.bodies[0]["alerts"][0]["fingerprint"] == alert.fingerprint


async def test_a_critical_alert_inhibits_the_matching_warning(
    monitoring_on: Deployment, receiver: FakeReceiver
) -> None:
    service = monitoring_on.service
    await add_webhook(monitoring_on, "hook", f"{receiver.url}/am")
    await set_routing(
        monitoring_on,
        {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "severity"],
                "group_wait": "0s",
            },
            "inhibit_rules": [
                {
                    "source_matchers": ['severity="critical"'],
                    "target_matchers": ['severity="warning"'],
                    "equal": ["alertname"],
                }
            ],
        },
    )
    critical = firing("Disk", severity="critical")
    sent = await service.dispatch([critical])
    assert len(sent) == 1
    warning, other = firing("Disk", severity="warning"), firing("CPU", severity="warning")
    sent = await service.dispatch([warning, other])
    assert [n.group_labels for n in sent] == [{"alertname": "CPU", "severity": "warning"}]
    listed = {
        a["labels"]["alertname"] + "/" + a["labels"]["severity"]: a["status"]
        for a in (await monitoring_on.http.get("/api/v2/alerts", headers=ADMIN)).json()
    }
    assert listed["Disk/warning"]["inhibitedBy"] == [critical.fingerprint]
    assert listed["Disk/critical"]["state"] == "active"
    await wait_for(lambda: len(receiver.bodies) == 2)
    await asyncio.sleep(0.3)
    notified = sorted(
        (b["groupLabels"]["alertname"], b["groupLabels"]["severity"]) for b in receiver.bodies
    )
    assert notified == [("CPU", "warning"), ("Disk", "critical")]


async def test_a_rules_channels_receive_its_alerts(
    monitoring: Deployment, receiver: FakeReceiver
) -> None:
    await add_webhook(monitoring, "rule-hook", f"{receiver.url}/rule")
    alert = firing("ApiSlow", severity="warning")
    await monitoring.service.dispatch_alerts(
        [alert], extra_receivers={alert.fingerprint: ["rule-hook"]}
    )
    listed = (await monitoring.http.get("/api/v2/alerts", headers=ADMIN)).json()
    assert listed[0]["receivers"] == [{"name": "rule-hook"}]
    sent = await monitoring.service.flush_groups(now=time.time() + 31)
    assert [n.receiver for n in sent] == ["rule-hook"]
    await wait_for(lambda: len(receiver.bodies) == 1)
    assert receiver.calls("/rule")
    await monitoring.service.dispatch([resolved(alert)])
    stored = (await monitoring.http.get("/api/v2/alerts", headers=ADMIN)).json()
    assert stored == []
    assert [g["receiver"] for g in await monitoring.service.list_groups()] == ["rule-hook"]


async def test_groups_survive_a_restart_and_are_collected_when_done(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    settings = monitoring_settings(tmp_path, {})
    app = create_app(settings)
    async with serve_app(app) as http:
        first = Deployment(app.state.aicc_service, app, http)
        await add_webhook(first, "hook", f"{receiver.url}/am")
        await set_routing(first, {"route": {"receiver": "hook", "group_wait": "2s"}})
        alert = firing()
        assert await first.service.dispatch([alert]) == []
    assert receiver.bodies == []
    app = create_app(settings)
    async with serve_app(app) as http:
        service = app.state.aicc_service
        await wait_for(lambda: len(receiver.bodies) == 1)
        assert receiver.bodies[0]["alerts"][0]["fingerprint"] == alert.fingerprint
        later = time.time() + 400
        sent = await service.dispatch([resolved(alert, at=later)], now=later)
        assert [n.status for n in sent] == ["resolved"]
        assert len(await service.list_groups()) == 1
        await service.collect_garbage(now=later + 2 * 4 * 3600 + 1)
        assert await service.list_groups() == []
        assert await service.list_alerts() == []
        async with service.resources.database.connect() as conn:
            assert await load_alerts(conn) == {}
