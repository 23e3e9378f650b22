"""Fixtures for the auth service: an app on embedded or production backends, helpers that
sign users in through the HTTP API, the same app with every response checked for secrets
(``api``), and an OIDC provider with an app that signs in through it (``sso``)."""

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
from tests.auth.admin_api import watched
from tests.auth.oidc_provider import FakeOIDCProvider, run_oidc_provider
from tests.auth.sso_flow import CLIENT, corp_provider
from tests.auth.support import registration_body

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
            json=registration_body(username, password, roles, **extra),
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


@pytest.fixture
def api(auth: AuthClient) -> AuthClient:
    """The app on both backends, every response checked for secrets."""
    return watched(auth)


@pytest.fixture
def api_embedded(auth_embedded: AuthClient) -> AuthClient:
    return watched(auth_embedded)


@pytest.fixture(scope="module")
def _running_idp() -> Iterator[FakeOIDCProvider]:
    with run_oidc_provider([CLIENT]) as provider:
        yield provider


@pytest.fixture
def idp(_running_idp: FakeOIDCProvider) -> FakeOIDCProvider:
    _running_idp.reset()
    return _running_idp


@pytest.fixture
async def browser() -> AsyncIterator[httpx2.AsyncClient]:
    """A real HTTP client for the provider's side of the flow (redirects not followed)."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture
async def sso(
    tmp_path: Path, idp: FakeOIDCProvider, backend_overrides: dict[str, Any]
) -> AsyncIterator[AuthClient]:
    """The auth app with the ``corp`` provider, on both backends."""
    providers = [corp_provider(idp.issuer)]
    settings = auth_settings(tmp_path, **{"auth.sso_providers": providers}, **backend_overrides)
    async with running_auth(settings) as client:
        yield client


@pytest.fixture
async def sso_embedded(tmp_path: Path, idp: FakeOIDCProvider) -> AsyncIterator[AuthClient]:
    """The same on the embedded backends, for cases whose logic does not depend on them."""
    settings = auth_settings(tmp_path, **{"auth.sso_providers": [corp_provider(idp.issuer)]})
    async with running_auth(settings) as client:
        yield client
