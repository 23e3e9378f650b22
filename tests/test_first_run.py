"""Replicas started together on an empty database: one migrates while the others wait, and
every first-run step (schema, first admin, first signing key) happens exactly once."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
from pathlib import Path

import asyncpg
import httpx2
import pytest

from aicc.core.migrate import head_revision
from tests.backends import free_port
from tests.processes import Running, aicc_env

BOOTSTRAP = re.compile(r"Created the first SUPER_ADMIN 'admin' with the password \S+")
SERVICES = ("auth", "auth", "monitoring", "recording")


async def _one(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@pytest.mark.parametrize("attempt", [1, 2])
def test_four_replicas_on_an_empty_postgres_come_up_on_one_schema(
    tmp_path: Path, postgres_url: str, attempt: int
) -> None:
    env = aicc_env(
        tmp_path,
        DATABASE_URL=postgres_url,
        ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        AICC_AUTH_PASSWORD_HASH_MEMORY_KIB="8192",
    )
    ports = [free_port() for _ in SERVICES]
    replicas = [
        Running(["serve", name, "--port", str(port)], env, tmp_path, wait=False)
        for name, port in zip(SERVICES, ports, strict=True)
    ]
    try:
        banners = [replica.wait_banner() for replica in replicas]
        for port in ports:
            ready = httpx2.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
            assert ready.status_code == 200, ready.text
        assert sum(bool(BOOTSTRAP.search(b)) for b in banners) == 1, "one admin, shown once"
        users = asyncio.run(_one(postgres_url, "SELECT count(*) FROM auth_user"))
        keys = asyncio.run(
            _one(postgres_url, "SELECT count(*) FROM auth_signing_key WHERE retired_at IS NULL")
        )
        version = asyncio.run(_one(postgres_url, "SELECT version_num FROM alembic_version"))
        assert (users, keys, version) == (1, 1, head_revision())
        jwks = [
            httpx2.get(f"http://127.0.0.1:{p}/.well-known/jwks.json", timeout=5).json()
            for p in ports[:2]
        ]
        assert jwks[0] == jwks[1] and len(jwks[0]["keys"]) == 1
    finally:
        for replica in replicas:
            if replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGTERM)
        codes = []
        for replica in replicas:
            try:
                codes.append(replica.proc.wait(timeout=15))
            except Exception:
                replica.kill()
                raise
    assert codes == [0, 0, 0, 0]
