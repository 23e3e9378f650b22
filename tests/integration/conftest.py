"""The integration service on embedded backends (SQLite, memory cache) and on the production
ones (PostgreSQL, Redis), started through its Python API or served over HTTP."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from aicc.integration import IntegrationService
from aicc.integration.app import create_app
from tests.asgi import serve_app
from tests.integration.support import integration_settings


def production_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis.key_prefix": request.getfixturevalue("redis_prefix"),
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each test using this runs on both: SQLite + memory, PostgreSQL + Redis."""
    return {} if request.param == "embedded" else production_backend(request)


@pytest.fixture
async def integrations(tmp_path: Path) -> AsyncIterator[IntegrationService]:
    """The service through its Python API, on embedded backends."""
    service = IntegrationService(settings=integration_settings(tmp_path, {}))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def integrations_on(
    tmp_path: Path, backend: dict[str, Any]
) -> AsyncIterator[IntegrationService]:
    """The service through its Python API, on each backend in turn."""
    service = IntegrationService(settings=integration_settings(tmp_path, backend))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@dataclass
class Deployment:
    service: IntegrationService
    app: FastAPI
    http: httpx2.AsyncClient


@pytest.fixture
async def integration_app(tmp_path: Path) -> AsyncIterator[Deployment]:
    """The HTTP app over ASGI, on embedded backends."""
    app = create_app(integration_settings(tmp_path, {}))
    async with serve_app(app) as client:
        yield Deployment(app.state.aicc_service, app, client)
