from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings, load_settings
from aicc.core.outgoing import build_user_url_client
from aicc.monitoring.channels import ChannelContext
from tests.monitoring.channels.fakes import FakePagerDuty, FakeReceiver, FakeSlack, MotoNotify

REGION = "ap-northeast-2"


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    """The guarded client for user-supplied URLs, with loopback allowed for the stand-ins."""
    settings = load_settings({"http.allow_private_networks": True}, env_file=None)
    client = build_user_url_client(settings)
    yield client
    await client.aclose()


@pytest.fixture
def ctx(http: httpx2.AsyncClient) -> ChannelContext:
    async def no_aws(service: str, region: str | None) -> Any:
        raise AssertionError(f"an HTTP channel asked for an AWS client ({service})")

    return ChannelContext(http=http, aws_client=no_aws)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> MotoNotify:
    return MotoNotify(monkeypatch, moto_endpoint, REGION)


@pytest.fixture
async def aws_ctx(
    http: httpx2.AsyncClient, aws: MotoNotify, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ChannelContext]:
    """AWS clients from the service's factory, pointed at moto, one attempt per call (so an
    injected error reaches the channel unretried)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    clients = AwsClients(AwsSettings(_env_file=None, AWS_REGION=REGION, max_attempts=1))
    yield ChannelContext.using(http, clients)
    await clients.close()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with fake.running():
        yield fake


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    async with fake.running():
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[FakeReceiver]:
    fake = FakeReceiver()
    async with fake.running():
        yield fake
