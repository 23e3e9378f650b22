"""The AWS client factory against moto's server over real HTTP: endpoints from boto's own
environment variables, the region of ``AWS_REGION``, one client per service, all closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, HTTPClientError

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings, load_settings
from aicc.core.migrate import upgrade
from aicc.core.resources import Resources

DEAD_ENDPOINT = "http://127.0.0.1:9"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(autouse=True)
def _no_aws_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENDPOINT_VARIABLES, "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AwsClients]:
    """A factory built from the environment (``AWS_REGION=eu-west-3``), one attempt per call."""
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AICC_AWS_MAX_ATTEMPTS", "1")
    factory = AwsClients(load_settings(env_file=None).aws)
    yield factory
    await factory.close()


def moto(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


async def test_kms_and_s3_reach_the_endpoint_of_aws_endpoint_url(
    clients: AwsClients, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)

    kms = await clients.client("kms")
    created = await kms.create_key(Description="factory test")
    s3 = await clients.client("s3")
    bucket = f"aicc-aws-{id(clients)}"
    await s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    await s3.put_object(Bucket=bucket, Key="k", Body=b"through the factory")

    arn = created["KeyMetadata"]["Arn"]
    assert arn.startswith("arn:aws:kms:eu-west-3:")
    described = moto("kms", moto_endpoint, "eu-west-3").describe_key(KeyId=arn)
    assert described["KeyMetadata"]["Description"] == "factory test"
    seen = moto("s3", moto_endpoint, "eu-west-3").get_object(Bucket=bucket, Key="k")
    assert seen["Body"].read() == b"through the factory"


async def test_a_service_endpoint_variable_applies_to_that_service_only(
    clients: AwsClients, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_endpoint)

    kms = await clients.client("kms")
    arn = (await kms.create_key())["KeyMetadata"]["Arn"]
    s3 = await clients.client("s3")

    assert moto("kms", moto_endpoint, "eu-west-3").describe_key(KeyId=arn)["KeyMetadata"]
    with pytest.raises(EndpointConnectionError):
        await s3.list_buckets()


async def test_an_endpoint_passed_in_wins_over_the_environment(
    clients: AwsClients, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", DEAD_ENDPOINT)

    kms = await clients.client("kms", endpoint_url=moto_endpoint)

    assert "Keys" in await kms.list_keys()


async def test_the_region_can_be_chosen_per_client(
    clients: AwsClients, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)

    here = await (await clients.client("kms")).create_key()
    there = await (await clients.client("kms", region="ap-southeast-1")).create_key()

    assert here["KeyMetadata"]["Arn"].split(":")[3] == "eu-west-3"
    assert there["KeyMetadata"]["Arn"].split(":")[3] == "ap-southeast-1"


async def test_timeouts_and_adaptive_retries_come_from_the_settings() -> None:
    settings = AwsSettings(
        _env_file=None, AWS_REGION="us-east-1", connect_timeout=1.5, read_timeout=7, max_attempts=4
    )
    factory = AwsClients(settings)
    try:
        config = (await factory.client("sqs")).meta.config
    finally:
        await factory.close()

    assert (config.connect_timeout, config.read_timeout) == (1.5, 7)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}


async def test_clients_are_opened_once_and_reused(clients: AwsClients) -> None:
    first = await asyncio.gather(*(clients.client("kms") for _ in range(5)))
    s3 = await clients.client("s3")
    elsewhere = await clients.client("kms", region="us-west-2")

    assert all(client is first[0] for client in first)
    assert await clients.client("kms") is first[0]
    assert len({id(first[0]), id(s3), id(elsewhere)}) == 3
    assert clients.opened == 3


async def test_close_closes_every_client_and_later_requests_open_fresh_ones(
    clients: AwsClients, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    old = await clients.client("kms")
    await old.list_keys()

    await clients.close()

    assert clients.opened == 0
    with pytest.raises(HTTPClientError):
        await old.list_keys()
    fresh = await clients.client("kms")
    assert fresh is not old
    assert "Keys" in await fresh.list_keys()


async def test_resources_share_the_factory_with_the_object_store(
    tmp_path: Path, moto_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("S3_BUCKET", s3_bucket)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    resources = Resources.open(load_settings(env_file=None))
    try:
        await resources.storage.put("via/resources", b"x")
        assert resources.aws.opened == 1
        assert await resources.aws.client("s3") is await resources.aws.client("s3")
    finally:
        await resources.close()

    assert resources.aws.opened == 0
    listed = moto("s3", moto_endpoint, "us-east-1").list_objects_v2(Bucket=s3_bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["via/resources"]


async def test_resources_build_one_data_key_store_on_the_factorys_kms_client(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = moto("kms", moto_endpoint, "us-east-1").create_key()["KeyMetadata"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AICC_KMS_KEY_ID", key["Arn"])
    monkeypatch.setenv("AICC_DATA_DIR", str(tmp_path / "var"))
    resources = Resources.open(load_settings(env_file=None))
    try:
        await upgrade(resources.database)
        assert resources.data_keys is resources.data_keys
        data_key = await resources.data_keys.create("recording:1")

        assert await resources.data_keys.get("recording:1") == data_key
        assert (await resources.data_keys.status()).data_keys == {key["Arn"]: 1}
        assert resources.aws.opened == 1
    finally:
        await resources.close()
