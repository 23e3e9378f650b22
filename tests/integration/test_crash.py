"""``kill -9`` of a replica in the middle of delivering: another replica delivers every
ASYNC message, and a provider that deduplicates on the idempotency key sees each once."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aicc.integration import IntegrationService
from tests.backends import free_port
from tests.integration.delivery_support import order, register_shop
from tests.integration.fakes.shop import ShopFake
from tests.integration.support import integration_settings
from tests.processes import aicc_env
from tests.recording.support import ISSUER, SECRET

MESSAGES = 40


def _replica(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aicc", "serve", "integration", "--port", str(free_port())],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if line.startswith("Press Ctrl-C") or time.monotonic() > deadline:
            break
    return proc


async def test_kill_9_mid_delivery_delivers_every_message_once(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    backend = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "redis.key_prefix": redis_prefix,
        "encryption_key": key,
    }
    producer = IntegrationService(
        settings=integration_settings(tmp_path, backend, **{"jobs.enabled": False})
    )
    env = aicc_env(
        tmp_path,
        JWT_SECRET=SECRET,
        AICC_AUTH_ISSUER=ISSUER,
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=redis_prefix,
        ENCRYPTION_KEY=key,
        AICC_ALLOW_PRIVATE_NETWORKS="true",
        AICC_JOBS_LEASE="2",
        AICC_JOBS_POLL_INTERVAL="0.5",
        AICC_INTEGRATION_BACKOFF_BASE="0.2",
    )
    shop = ShopFake(delay=0.3)
    await producer.start()
    try:
        async with shop.running() as url:
            integration_id = await register_shop(producer, url)
            ids = [
                (await producer.send_message(order(integration_id)))["message_id"]
                for _ in range(MESSAGES)
            ]
            first = await asyncio.to_thread(_replica, env, tmp_path)
            deadline = time.monotonic() + 60
            while len(shop.orders) < 5 or shop.in_flight == 0:
                assert time.monotonic() < deadline, "the first replica delivered nothing"
                await asyncio.sleep(0.02)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            in_flight_when_killed = len(shop.orders)
            second = await asyncio.to_thread(_replica, env, tmp_path)
            try:
                deadline = time.monotonic() + 90
                while True:
                    states = [
                        (await producer.get_message(integration_id, i))["status"] for i in ids
                    ]
                    if all(s == "delivered" for s in states):
                        break
                    assert time.monotonic() < deadline, states
                    await asyncio.sleep(0.2)
            finally:
                second.terminate()
                second.wait(timeout=30)
    finally:
        await producer.stop()
    assert in_flight_when_killed < MESSAGES, "the kill came after everything was delivered"
    assert sorted(shop.orders) == sorted(ids), "each message reached the provider under its id"
    assert len(shop.orders) == MESSAGES
