"""The recording service on embedded backends (SQLite, memory cache, local disk) and on the
production ones (PostgreSQL, Redis, S3 through moto), with HS256 tokens minted for each role."""

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

from aicc.core.config import load_settings
from aicc.recording.app import create_app
from aicc.recording.service import RecordingService
from tests.asgi import live_app, serve_app
from tests.recording.support import ISSUER, SECRET


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "embedded":
        return {}
    bucket = request.getfixturevalue("s3_bucket")
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis.key_prefix": request.getfixturevalue("redis_prefix"),
        "s3_bucket": bucket,
        "s3_endpoint_url": request.getfixturevalue("moto_endpoint"),
        "aws_region": "us-east-1",
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }


def recording_settings(tmp_path: Path, backend: dict[str, Any], **overrides: Any) -> Any:
    return load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            "recording.stop_wait": 20,
            "jobs.poll_interval": 0.5,
            **backend,
            **overrides,
        },
        env_file=None,
    )


@dataclass
class Deployment:
    service: RecordingService
    app: FastAPI
    http: httpx2.AsyncClient


@pytest.fixture
async def recording(tmp_path: Path, backend: dict[str, Any]) -> AsyncIterator[Deployment]:
    """The recording app served over ASGI (HTTP only)."""
    app = create_app(recording_settings(tmp_path, backend))
    async with serve_app(app) as client:
        yield Deployment(app.state.aicc_service, app, client)


@pytest.fixture
async def live_recording(tmp_path: Path, backend: dict[str, Any]) -> AsyncIterator[Deployment]:
    """The recording app served by uvicorn on a loopback port (WebSockets)."""
    app = create_app(recording_settings(tmp_path, backend))
    async with live_app(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as client:
        yield Deployment(app.state.aicc_service, app, client)
