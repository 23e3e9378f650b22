"""The monitoring service with Amazon Connect (the REST-JSON stand-in) and CloudWatch (moto),
reached through the platform's AWS client factory by ``AWS_ENDPOINT_URL_<SERVICE>``."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx2
import pytest
from aiobotocore.config import AioConfig
from fastapi import FastAPI

from aicc.core.config import Settings, load_settings
from aicc.monitoring import MonitoringService
from aicc.monitoring.app import create_app
from aicc.monitoring.connect import Backoff
from tests.asgi import serve_app
from tests.monitoring.connect.fakes import REGION, FakeConnect
from tests.recording.support import ISSUER, SECRET

STANDARD_RETRIES = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
"""botocore's adaptive mode holds calls for seconds after a throttle: what production wants
and a test only waits for (the service's own backoff is what these tests exercise)."""
FAST = Backoff(attempts=2, base=0.001, cap=0.01, budget=1.0)
SECRET_KEY = "never-shown-" + uuid.uuid4().hex


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each test using this runs on both: SQLite + memory, PostgreSQL + Redis."""
    if request.param == "embedded":
        return {}
    return production(request)


def production(request: pytest.FixtureRequest) -> dict[str, Any]:
    """PostgreSQL + Redis (synchronous fixtures only: call it outside a running loop)."""
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis.key_prefix": request.getfixturevalue("redis_prefix"),
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }


@pytest.fixture
def shared(postgres_url: str, redis_url: str, redis_prefix: str) -> dict[str, Any]:
    """PostgreSQL + Redis, for tests of several replicas."""
    return {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "redis.key_prefix": redis_prefix,
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
    }


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Test credentials only (no profile, no instance metadata)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
async def connect(aws_env: pytest.MonkeyPatch) -> AsyncIterator[FakeConnect]:
    """A running Connect stand-in that ``AWS_ENDPOINT_URL_CONNECT`` points at."""
    fake = FakeConnect()
    async with fake.running() as url:
        aws_env.setenv("AWS_ENDPOINT_URL_CONNECT", url)
        yield fake


def monitoring_settings(tmp_path: Path, backend: dict[str, Any], **overrides: Any) -> Settings:
    """Jobs off unless a test turns them on, so each cycle runs when the test calls it."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            "http.allow_private_networks": True,
            "jobs.enabled": False,
            "jobs.poll_interval": 0.2,
            "aws.region": REGION,
            "aws.max_attempts": 1,
            "aws.connect_timeout": 1.0,
            "monitoring.targets": [],
            **backend,
            **overrides,
        },
        env_file=None,
    )


@dataclass
class Replica:
    app: FastAPI
    http: httpx2.AsyncClient

    @property
    def service(self) -> MonitoringService:
        service: MonitoringService = self.app.state.aicc_service
        return service


ReplicaFactory = Callable[..., AbstractAsyncContextManager[Replica]]


@pytest.fixture
def replica(tmp_path: Path) -> ReplicaFactory:
    """``async with replica(backend, **settings) as r``: one monitoring app over ASGI; replicas
    of one test share the backend but not a data folder."""

    @asynccontextmanager
    async def run(backend: dict[str, Any], **overrides: Any) -> AsyncIterator[Replica]:
        folder = tmp_path / uuid.uuid4().hex[:8]
        app = create_app(monitoring_settings(folder, backend, **overrides))
        app.state.aicc_service.connect_backoff = FAST
        async with serve_app(app) as http:
            aws = app.state.aicc_service.resources.aws
            aws.config = aws.config.merge(STANDARD_RETRIES)
            yield Replica(app, http)

    return run


def gauge_lines(text: str, name: str) -> dict[str, float]:
    """``name``'s samples in an exposition text, by their label part."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line[len(name) :].rpartition(" ")
            found[labels] = float(value)
    return found


class CloudWatch:
    """What moto's CloudWatch holds in one namespace."""

    def __init__(self, endpoint: str) -> None:
        self.namespace = f"AICC/Test-{uuid.uuid4().hex[:10]}"
        self.client: Any = boto3.client(
            "cloudwatch",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def metrics(self, name: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {"Namespace": self.namespace}
        if name is not None:
            query["MetricName"] = name
        for page in self.client.get_paginator("list_metrics").paginate(**query):
            found.extend(page["Metrics"])
        return found

    def dimensions(self, name: str) -> list[dict[str, str]]:
        return [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in self.metrics(name)]

    def statistics(self, name: str, dimensions: dict[str, str]) -> dict[str, Any]:
        now = datetime.now(UTC)
        found = self.client.get_metric_statistics(
            Namespace=self.namespace,
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=7200,
            Statistics=["Sum", "SampleCount", "Maximum"],
        )["Datapoints"]
        return {k: found[0][k] for k in ("Sum", "SampleCount", "Maximum")} if found else {}


@pytest.fixture
def cloudwatch(moto_endpoint: str, aws_env: pytest.MonkeyPatch) -> CloudWatch:
    aws_env.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", moto_endpoint)
    return CloudWatch(moto_endpoint)
