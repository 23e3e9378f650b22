"""Fixtures for the auth service: an app on embedded or production backends, and helpers
that sign users in through the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis

from aicc.auth.app import create_app
from aicc.auth.service import AuthService
from aicc.core.config import Settings, load_settings
from tests.asgi import serve_app

ADMIN_USERNAME = "root-admin"
ADMIN_PASSWORD = "bootstrap-Passphrase-42"
FAST_HASHING = {"auth.password_hash_memory_kib": 8192, "auth.password_hash_time_cost": 1}


def auth_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Embedded defaults in ``tmp_path``, a known bootstrap admin and cheap hashing."""
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "auth.bootstrap_admin_username": ADMIN_USERNAME,
        "auth.bootstrap_admin_password": ADMIN_PASSWORD,
        **FAST_HASHING,
        **overrides,
    }
    return load_settings(values, env_file=None)


@pytest.fixture(params=["embedded", "postgres-redis"])
def backend_overrides(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Each test using this runs on SQLite + memory cache and on PostgreSQL + Redis
    (a fresh database and a fresh key prefix, removed afterwards)."""
    if request.param == "embedded":
        yield {}
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    yield {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": url,
        "redis.key_prefix": prefix,
        "server.auto_migrate": True,
    }
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class AuthClient:
    """An HTTP client for the auth app plus shortcuts for the common flows."""

    def __init__(self, http: httpx2.AsyncClient, service: AuthService) -> None:
        self.http = http
        self.service = service

    async def login(self, username: str, password: str, **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/auth/login", json={"username": username, "password": password, **extra}
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def admin_headers(self) -> dict[str, str]:
        tokens = await self.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        return bearer(tokens)

    async def create_user(
        self, username: str, password: str, roles: list[str], **extra: Any
    ) -> str:
        response = await self.http.post(
            "/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "roles": roles,
                **extra,
            },
            headers=await self.admin_headers(),
        )
        assert response.status_code == 201, response.text
        user_id: str = response.json()["user_id"]
        return user_id

    async def user_headers(self, username: str, password: str, roles: list[str]) -> dict[str, str]:
        await self.create_user(username, password, roles)
        return bearer(await self.login(username, password))


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@asynccontextmanager
async def running_auth(settings: Settings) -> AsyncIterator[AuthClient]:
    app = create_app(settings)
    async with serve_app(app) as http:
        yield AuthClient(http, app.state.aicc_service)


@pytest.fixture
async def auth(tmp_path: Path, backend_overrides: dict[str, Any]) -> AsyncIterator[AuthClient]:
    """The auth app on both backends (see ``backend_overrides``)."""
    async with running_auth(auth_settings(tmp_path, **backend_overrides)) as client:
        yield client


@pytest.fixture
async def auth_embedded(tmp_path: Path) -> AsyncIterator[AuthClient]:
    """The auth app on embedded backends only, for tests whose logic is backend-agnostic."""
    async with running_auth(auth_settings(tmp_path)) as client:
        yield client
