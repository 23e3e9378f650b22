"""The monitoring app on embedded backends and on PostgreSQL + Redis, with the Slack and
webhook stand-ins of the channel tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from aicc.core.config import Settings, load_settings
from aicc.monitoring.app import create_app
from aicc.monitoring.service import MonitoringService
from tests.asgi import serve_app
from tests.integration.conftest import production_backend
from tests.monitoring.channels.fakes import FakeReceiver, FakeSlack
from tests.recording.support import ISSUER, SECRET


def monitoring_settings(tmp_path: Path, backend: dict[str, Any], **overrides: Any) -> Settings:
    """Settings for one test: stand-ins on loopback allowed, jobs poll fast, no scraping of
    services that do not run."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            "http.allow_private_networks": True,
            "jobs.poll_interval": 0.2,
            "monitoring.scrape_interval": 3600,
            **backend,
            **overrides,
        },
        env_file=None,
    )


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each test using this runs on both: SQLite + memory, PostgreSQL + Redis."""
    return {} if request.param == "embedded" else production_backend(request)


@dataclass
class Deployment:
    service: MonitoringService
    app: FastAPI
    http: httpx2.AsyncClient


@pytest.fixture
async def monitoring(tmp_path: Path) -> AsyncIterator[Deployment]:
    """The HTTP app over ASGI, on embedded backends."""
    app = create_app(monitoring_settings(tmp_path, {}))
    async with serve_app(app) as client:
        yield Deployment(app.state.aicc_service, app, client)


@pytest.fixture
async def monitoring_on(tmp_path: Path, backend: dict[str, Any]) -> AsyncIterator[Deployment]:
    """The HTTP app over ASGI, on each backend in turn."""
    app = create_app(monitoring_settings(tmp_path, backend))
    async with serve_app(app) as client:
        yield Deployment(app.state.aicc_service, app, client)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with fake.running():
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[FakeReceiver]:
    fake = FakeReceiver()
    async with fake.running():
        yield fake
