"""Delivery as platform jobs: a failing channel is retried until it accepts (once), a
channel that refuses for good is not retried, and two replicas notify a group state once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aicc.core.jobs import JobState, list_jobs
from aicc.monitoring.app import create_app
from aicc.monitoring.dispatch import NOTIFY_KIND
from tests.asgi import serve_app
from tests.integration.fakes.common import Fault
from tests.integration.support import ADMIN
from tests.monitoring.channels.fakes import FakeReceiver, FakeSlack
from tests.monitoring.notify.conftest import Deployment, monitoring_settings
from tests.monitoring.notify.support import add_webhook, firing, set_routing, wait_for


async def jobs_in(deployment: Deployment, state: JobState) -> list[Any]:
    async with deployment.service.resources.database.connect() as conn:
        jobs, _ = await list_jobs(conn, kinds=[NOTIFY_KIND], states=[state])
    return list(jobs)


async def test_a_failing_channel_is_retried_then_delivered_once(
    monitoring_on: Deployment, receiver: FakeReceiver
) -> None:
    await add_webhook(monitoring_on, "hook", f"{receiver.url}/am")
    await set_routing(monitoring_on, {"route": {"receiver": "hook", "group_wait": "0s"}})
    receiver.fail(Fault(status=503, headers={"retry-after": "0"}), Fault(status=500))
    await monitoring_on.service.dispatch([firing()])
    await wait_for(lambda: len(receiver.bodies) == 1, timeout=15)
    await asyncio.sleep(0.5)
    assert len(receiver.bodies) == 1
    assert len(receiver.calls("/am")) == 3
    completed = await jobs_in(monitoring_on, JobState.COMPLETED)
    assert len(completed) == 1 and completed[0].attempt == 3


async def test_a_refusal_for_good_is_a_dead_letter(
    monitoring: Deployment, slack: FakeSlack
) -> None:
    hook = slack.hook().replace("/services/T", "/services/X")
    body = {"name": "slack", "type": "slack", "settings": {"webhook_url": hook}}
    assert (
        await monitoring.http.post("/alerts/channels", json=body, headers=ADMIN)
    ).status_code == 201
    await set_routing(monitoring, {"route": {"receiver": "slack", "group_wait": "0s"}})
    await monitoring.service.dispatch([firing()])
    dead: list[Any] = []
    for _ in range(200):
        dead = await jobs_in(monitoring, JobState.DEAD)
        if dead:
            break
        await asyncio.sleep(0.05)
    assert len(dead) == 1
    assert "Slack answered 404" in (dead[0].last_error or "")
    assert hook.rsplit("/", 1)[1] not in (dead[0].last_error or "")
    assert len(slack.calls("/services/")) == 1


async def test_two_replicas_notify_each_group_state_once(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str, receiver: FakeReceiver
) -> None:
    backend = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "redis.key_prefix": redis_prefix,
    }
    first = create_app(monitoring_settings(tmp_path / "a", backend))
    second = create_app(monitoring_settings(tmp_path / "b", backend))
    async with serve_app(first) as http_a, serve_app(second) as http_b:
        a = Deployment(first.state.aicc_service, first, http_a)
        b = Deployment(second.state.aicc_service, second, http_b)
        await add_webhook(a, "hook", f"{receiver.url}/am")
        await set_routing(
            b, {"route": {"receiver": "hook", "group_wait": "1s", "group_interval": "1s"}}
        )
        alerts = [firing(instance=str(i)) for i in range(5)]
        await asyncio.gather(*(s.service.dispatch(alerts) for s in (a, b)))
        await asyncio.gather(*(s.service.dispatch(alerts[:2]) for s in (a, b)))
        await asyncio.sleep(1.1)
        flushed = await asyncio.gather(
            *(s.service.flush_groups() for s in (a, b) for _ in range(3))
        )
        await wait_for(lambda: len(receiver.bodies) == 1)
        await asyncio.sleep(2.5)
    assert sum(len(f) for f in flushed) <= 1
    assert len(receiver.bodies) == 1
    assert len(receiver.bodies[0]["alerts"]) == 5
