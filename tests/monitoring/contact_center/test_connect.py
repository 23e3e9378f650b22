"""The Connect poller wired into the monitoring service: one poll through the facade fills
``GET /connect/metrics`` and the ``aicc_connect_*`` gauges of ``/metrics`` on every replica;
failures are reported, never raised."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from aicc.monitoring.connect import Snapshot
from aicc.monitoring.contact_center import TASK
from tests.integration.support import VIEWER
from tests.monitoring.connect.fakes import FakeConnect, throttle
from tests.monitoring.contact_center.conftest import (
    SECRET_KEY,
    ReplicaFactory,
    gauge_lines,
)
from tests.recording.support import bearer

IN_QUEUE = "aicc_connect_contacts_in_queue"


def populate(connect: FakeConnect) -> tuple[str, str]:
    sales = connect.add_queue("Sales")
    support = connect.add_queue("Support")
    connect.set_metrics(sales, "VOICE", CONTACTS_IN_QUEUE=4, AGENTS_ONLINE=7, OLDEST_CONTACT_AGE=95)
    connect.set_metrics(support, "CHAT", CONTACTS_IN_QUEUE=1)
    profile = connect.add_profile(sales, support)
    connect.add_agent(profile, "Available")
    connect.add_agent(profile, "Available", "CONNECTED")
    return sales, support


async def test_a_poll_on_one_replica_shows_on_another(
    connect: FakeConnect, replica: ReplicaFactory, shared: dict[str, Any]
) -> None:
    populate(connect)
    settings = {"connect.instance_id": connect.instance_id}
    async with replica(shared, **settings) as poller, replica(shared, **settings) as other:
        status = await poller.service.poll_connect()
        body = (await other.http.get("/connect/metrics", headers=VIEWER)).json()
        text = (await other.http.get("/metrics")).text

    assert status["last_error"] is None and status["failures"] == 0
    assert body["status"] == "ok" and body["instance_id"] == connect.instance_id
    assert body["last_error"] is None and body["consecutive_failures"] == 0
    queues = {q["name"]: q for q in body["snapshot"]["queues"]}
    assert queues["Sales"]["channels"]["VOICE"]["CONTACTS_IN_QUEUE"] == 4
    assert queues["Sales"]["channels"]["VOICE"]["OLDEST_CONTACT_AGE"] == 95
    assert queues["Sales"]["agent_states"]["On contact"] == 1
    assert body["snapshot"]["agent_states"]["Available"] == 1
    gauges = gauge_lines(text, IN_QUEUE)
    assert gauges['{channel="VOICE",queue="Sales"}'] == 4
    assert gauges['{channel="CHAT",queue="Support"}'] == 1
    online = gauge_lines(text, "aicc_connect_agents_online")
    assert online['{channel="VOICE",queue="Sales"}'] == 7
    assert gauge_lines(text, "aicc_connect_queues") == {"": 2}
    assert "system_cpu_usage_percent" in text


async def test_before_the_first_poll_the_snapshot_is_null_and_no_gauge_is_exported(
    connect: FakeConnect, replica: ReplicaFactory, backend: dict[str, Any]
) -> None:
    async with replica(backend, **{"connect.instance_id": connect.instance_id}) as r:
        anonymous = await r.http.get("/connect/metrics")
        roleless = await r.http.get("/connect/metrics", headers=bearer())
        body = (await r.http.get("/connect/metrics", headers=VIEWER)).json()
        text = (await r.http.get("/metrics")).text

    assert anonymous.status_code == 401
    assert roleless.status_code == 403 and roleless.json()["error"]["code"] == "permission_denied"
    assert body["status"] == "waiting" and body["snapshot"] is None
    assert body["last_poll_at"] is None and body["last_error"] is None
    assert "aicc_connect_" not in text


async def test_without_an_instance_id_there_is_no_poller_and_the_route_is_a_404(
    replica: ReplicaFactory,
) -> None:
    async with replica({}) as r:
        answer = await r.http.get("/connect/metrics", headers=VIEWER)
        tasks = [task.name for task in r.service.periodic_tasks()]
        text = (await r.http.get("/metrics")).text

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "connect_not_configured"
    assert TASK not in tasks and "monitoring.evaluate" in tasks
    assert "aicc_connect_" not in text


async def test_throttling_becomes_last_error_keeps_the_last_snapshot_then_recovers(
    connect: FakeConnect, replica: ReplicaFactory, backend: dict[str, Any]
) -> None:
    sales, _ = populate(connect)
    async with replica(backend, **{"connect.instance_id": connect.instance_id}) as r:
        await r.service.poll_connect()
        connect.set_metrics(sales, "VOICE", CONTACTS_IN_QUEUE=9)
        connect.provider.fail(throttle("/queues-summary/"), throttle("/queues-summary/"))
        failed = await r.service.poll_connect()
        during = (await r.http.get("/connect/metrics", headers=VIEWER)).json()
        text_during = (await r.http.get("/metrics")).text
        await r.service.poll_connect()
        after = (await r.http.get("/connect/metrics", headers=VIEWER)).json()
        text_after = (await r.http.get("/metrics")).text

    assert failed["failures"] == 1
    assert during["status"] == "error" and during["consecutive_failures"] == 1
    error = during["last_error"]
    assert error["code"] == "TooManyRequestsException" and error["throttled"] is True
    assert error["operation"] == "list_queues"
    sales_row = next(q for q in during["snapshot"]["queues"] if q["name"] == "Sales")
    assert sales_row["channels"]["VOICE"]["CONTACTS_IN_QUEUE"] == 4
    assert gauge_lines(text_during, IN_QUEUE)['{channel="VOICE",queue="Sales"}'] == 4
    assert after["status"] == "ok" and after["last_error"] is None
    assert after["consecutive_failures"] == 0
    assert gauge_lines(text_after, IN_QUEUE)['{channel="VOICE",queue="Sales"}'] == 9


async def test_an_unknown_instance_is_reported_without_secrets(
    connect: FakeConnect, replica: ReplicaFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with replica({}, **{"connect.instance_id": "not-an-instance"}) as r:
        await r.service.poll_connect()
        answer = await r.http.get("/connect/metrics", headers=VIEWER)

    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "error"
    assert body["last_error"]["code"] == "ResourceNotFoundException"
    assert body["last_error"]["throttled"] is False and body["snapshot"] is None
    assert "Amazon Connect poll failed: ResourceNotFoundException" in caplog.text
    assert SECRET_KEY not in caplog.text and SECRET_KEY not in answer.text


async def test_missing_credentials_are_reported_and_the_task_does_not_fail(
    connect: FakeConnect,
    replica: ReplicaFactory,
    aws_env: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        aws_env.delenv(name, raising=False)
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    aws_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    async with replica({}, **{"connect.instance_id": connect.instance_id}) as r:
        status = await r.service.poll_connect()
        body = (await r.http.get("/connect/metrics", headers=VIEWER)).json()

    assert status["last_error"]["code"] == "NoCredentialsError"
    assert body["status"] == "error" and body["snapshot"] is None


async def test_gauges_are_rebuilt_only_when_the_snapshot_changes(
    connect: FakeConnect, replica: ReplicaFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, support = populate(connect)
    async with replica({}, **{"connect.instance_id": connect.instance_id}) as r:
        gauges = r.service._connect_gauges
        updates: list[float] = []
        update = gauges.update

        def counted(snapshot: Snapshot) -> None:
            updates.append(snapshot.taken_at)
            update(snapshot)

        monkeypatch.setattr(gauges, "update", counted)
        await r.service.poll_connect()
        first = [(await r.http.get("/metrics")).text for _ in range(3)]
        del connect.queues[support]
        await r.service.poll_connect()
        second = (await r.http.get("/metrics")).text

    assert len(updates) == 2 and updates[0] < updates[1]
    assert all('queue="Support"' in text for text in first)
    assert 'queue="Support"' not in second and 'queue="Sales"' in second


async def test_the_periodic_task_polls_on_its_own(
    connect: FakeConnect, replica: ReplicaFactory, backend: dict[str, Any]
) -> None:
    populate(connect)
    settings = {
        "connect.instance_id": connect.instance_id,
        "jobs.enabled": True,
        "monitoring.connect_poll_interval": 1,
        "monitoring.scrape_interval": 3600,
    }
    async with replica(backend, **settings) as r:
        assert TASK in [task.name for task in r.service.periodic_tasks()]
        deadline = time.monotonic() + 20
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = (await r.http.get("/connect/metrics", headers=VIEWER)).json()
            if body["status"] == "ok":
                break
            await asyncio.sleep(0.1)

    assert body["status"] == "ok", body
    assert {q["name"] for q in body["snapshot"]["queues"]} == {"Sales", "Support"}
