"""Helpers for the dispatch tests: channels, routing, alerts and waiting for deliveries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aicc.monitoring.alertmanager import Alert
from tests.integration.support import ADMIN
from tests.monitoring.notify.conftest import Deployment


async def add_webhook(deployment: Deployment, name: str, url: str, **extra: Any) -> None:
    body = {"name": name, "type": "webhook", "settings": {"url": url}, **extra}
    answer = await deployment.http.post("/alerts/channels", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text


async def set_routing(deployment: Deployment, routing: dict[str, Any]) -> None:
    answer = await deployment.http.put("/alerts/routing", json=routing, headers=ADMIN)
    assert answer.status_code == 200, answer.text


def firing(name: str = "HighCPU", *, at: float | None = None, **labels: str) -> Alert:
    now = time.time() if at is None else at
    return Alert(
        labels={"alertname": name, **labels},
        annotations={"summary": f"{name} is firing"},
        starts_at=now,
        updated_at=now,
    )


def resolved(alert: Alert, *, at: float | None = None) -> Alert:
    now = time.time() if at is None else at
    return Alert(
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=now,
        updated_at=now,
    )


async def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)
