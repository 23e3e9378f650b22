from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aiobotocore.config import AioConfig

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings
from aicc.monitoring.connect import Backoff, CloudWatchPublisher, ConnectPoller
from tests.monitoring.connect.fakes import REGION, FakeConnect

FAST = Backoff(attempts=4, base=0.001, cap=0.01, budget=1.0)
"""Backoff quick enough for tests; botocore itself makes one attempt (see ``aws``)."""


@pytest.fixture
async def aws(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AwsClients]:
    """The platform's AWS client factory with botocore's own retries off, so the poller's and
    the publisher's backoff is what a test sees. Its retry mode is "standard" rather than the
    platform's "adaptive": after a throttle the adaptive mode's client-side rate limiter holds
    the next calls for seconds, which production wants and a test only waits for."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    clients = AwsClients(AwsSettings(_env_file=None, AWS_REGION=REGION, max_attempts=1))
    clients.config = clients.config.merge(
        AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
    )
    try:
        yield clients
    finally:
        await clients.close()


@pytest.fixture
async def connect() -> AsyncIterator[FakeConnect]:
    fake = FakeConnect()
    async with fake.running():
        yield fake


PollerFactory = Callable[..., ConnectPoller]


@pytest.fixture
def poller_for(aws: AwsClients) -> PollerFactory:
    """A poller of ``fake`` through the AWS client factory, as the service builds it."""

    def build(fake: FakeConnect, **options: Any) -> ConnectPoller:
        options.setdefault("backoff", FAST)
        return ConnectPoller(
            lambda: aws.client("connect", endpoint_url=fake.url), fake.instance_id, **options
        )

    return build


class Recorder:
    """The CloudWatch client, recording each PutMetricData's parameters."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests: list[dict[str, Any]] = []

    async def put_metric_data(self, **params: Any) -> Any:
        self.requests.append(params)
        return await self.client.put_metric_data(**params)


class CloudWatch:
    def __init__(self, aws: AwsClients, endpoint: str) -> None:
        self.namespace = f"AICC/Test-{uuid.uuid4().hex[:10]}"
        self.endpoint = endpoint
        self.aws = aws
        self.recorder: Recorder | None = None
        self.sync: Any = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)

    def publisher(self, **options: Any) -> CloudWatchPublisher:
        async def client() -> Recorder:
            if self.recorder is None:
                self.recorder = Recorder(
                    await self.aws.client("cloudwatch", endpoint_url=self.endpoint)
                )
            return self.recorder

        options.setdefault("backoff", FAST)
        return CloudWatchPublisher(client, self.namespace, **options)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.recorder.requests if self.recorder else []

    def statistics(self, name: str, dimensions: dict[str, str]) -> dict[str, Any]:
        now = datetime.now(UTC)
        found = self.sync.get_metric_statistics(
            Namespace=self.namespace,
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=7200,
            Statistics=["Sum", "SampleCount", "Maximum"],
        )["Datapoints"]
        if not found:
            return {}
        return {k: found[0][k] for k in ("Sum", "SampleCount", "Maximum", "Unit")}

    def metrics(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.sync.get_paginator("list_metrics").paginate(Namespace=self.namespace):
            found.extend(page["Metrics"])
        return found


@pytest.fixture
def cloudwatch(aws: AwsClients, moto_endpoint: str) -> CloudWatch:
    return CloudWatch(aws, moto_endpoint)
