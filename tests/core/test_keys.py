"""Envelope encryption through the public API, on SQLite and PostgreSQL, with local master
keys and with AWS KMS served by moto over real HTTP."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings, load_settings
from aicc.core.crypto import SecretBox, derive_key
from aicc.core.db import Database
from aicc.core.errors import ConfigError
from aicc.core.keys import (
    DataKeyCorrupt,
    DataKeyDestroyed,
    DataKeyExists,
    DataKeyNotFound,
    DataKeys,
    KekUnavailable,
    RotationReport,
    data_key_table,
    local_kek_id,
)
from aicc.core.migrate import upgrade
from aicc.core.secrets import encryption_key

REGION = "us-east-1"


def new_master() -> tuple[str, bytes]:
    raw = os.urandom(32)
    return base64.b64encode(raw).decode(), raw


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await upgrade(db)
    yield db
    await db.close()


@pytest.fixture
async def aws() -> AsyncIterator[AwsClients]:
    clients = AwsClients(AwsSettings(_env_file=None, AWS_REGION=REGION))
    yield clients
    await clients.close()


@pytest.fixture
def kms_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """KMS calls of the factory go to moto through ``AWS_ENDPOINT_URL_KMS``."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_endpoint)
    return moto_endpoint


def new_kms_key(endpoint: str) -> tuple[str, str]:
    """A KMS key on the moto server, as ``aws kms create-key`` + ``create-alias`` make it."""
    client: Any = boto3.client("kms", endpoint_url=endpoint, region_name=REGION)
    key = client.create_key(Description="aicc test")["KeyMetadata"]
    alias = f"alias/aicc-encryption-{uuid.uuid4().hex[:8]}"
    client.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return alias, key["Arn"]


class Deployment:
    """What a process configured with these settings builds: ``DataKeys.from_settings``."""

    def __init__(self, tmp_path: Path, database: Database, aws: AwsClients) -> None:
        self.tmp_path, self.database, self.aws = tmp_path, database, aws

    def keys(
        self,
        key: str,
        *,
        previous: Sequence[str] = (),
        kms: str | None = None,
        cache_size: int = 1024,
    ) -> DataKeys:
        settings = load_settings(
            {
                "data_dir": str(self.tmp_path / "var"),
                "encryption_key": key,
                "security.previous_encryption_keys": ",".join(previous) or None,
                "security.kms_key_id": kms,
                "aws.region": REGION,
            },
            env_file=None,
        )
        return DataKeys.from_settings(settings, self.database, self.aws, cache_size=cache_size)


@pytest.fixture
def deploy(tmp_path: Path, database: Database, aws: AwsClients) -> Deployment:
    return Deployment(tmp_path, database, aws)


async def store(keys: DataKeys, refs: Sequence[str]) -> dict[str, bytes]:
    """Create a data key per object and seal a payload under it."""
    sealed = {}
    for ref in refs:
        data_key = await keys.create(ref)
        sealed[ref] = SecretBox(data_key).seal(f"payload of {ref}".encode(), context=ref.encode())
    return sealed


async def read_all(keys: DataKeys, sealed: dict[str, bytes]) -> None:
    for ref, blob in sealed.items():
        data_key = await keys.get(ref)
        assert SecretBox(data_key).open(blob, context=ref.encode()) == f"payload of {ref}".encode()


async def copy_wrapped_key(database: Database, source: str, target: str) -> None:
    """What a bug or an attacker with database access could do."""
    t = data_key_table
    async with database.transaction() as conn:
        row = (
            await conn.execute(select(t.c.kek_id, t.c.wrapped_key).where(t.c.object_ref == source))
        ).one()
        await conn.execute(
            update(t)
            .where(t.c.object_ref == target)
            .values(kek_id=row.kek_id, wrapped_key=row.wrapped_key)
        )


async def test_round_trip_inside_the_callers_transaction(
    deploy: Deployment, database: Database
) -> None:
    key, _ = new_master()
    keys = deploy.keys(key)
    async with database.transaction() as conn:
        data_key = await keys.create("recording:1", conn=conn)
    sealed = SecretBox(data_key).seal(b"call audio", context=b"recording:1")

    assert len(data_key) == 32
    assert await keys.get("recording:1") == data_key
    fresh = deploy.keys(key)
    assert SecretBox(await fresh.get("recording:1")).open(sealed, context=b"recording:1") == (
        b"call audio"
    )
    with pytest.raises(DataKeyExists):
        await keys.create("recording:1")


async def test_a_rolled_back_transaction_leaves_no_key(
    deploy: Deployment, database: Database
) -> None:
    keys = deploy.keys(new_master()[0])
    with pytest.raises(RuntimeError, match="upload failed"):
        async with database.transaction() as conn:
            await keys.create("recording:2", conn=conn)
            raise RuntimeError("upload failed")

    with pytest.raises(DataKeyNotFound):
        await keys.get("recording:2")
    await keys.create("recording:2")


async def test_a_wrapped_key_copied_to_another_object_does_not_open(
    deploy: Deployment, database: Database
) -> None:
    keys = deploy.keys(new_master()[0])
    await store(keys, ["a", "b"])

    await copy_wrapped_key(database, "a", "b")

    with pytest.raises(DataKeyCorrupt) as refused:
        await keys.get("b")
    assert refused.value.object_ref == "b"
    assert refused.value.kek_id == await keys.writing_kek_id()


async def test_the_specs_passphrase_is_accepted(deploy: Deployment) -> None:
    keys = deploy.keys("your-encryption-key")
    sealed = await store(keys, ["transcript:1"])

    await read_all(deploy.keys("your-encryption-key"), sealed)
    settings = load_settings({"encryption_key": "your-encryption-key"}, env_file=None)
    documented = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"aicc-master-key-v1",
        info=b"aicc master key from ENCRYPTION_KEY",
    ).derive(b"your-encryption-key")
    assert encryption_key(settings) == documented
    with pytest.raises(KekUnavailable):
        await deploy.keys("your-encryption-key!").get("transcript:1")


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
    ],
    ids=["standard", "url-safe", "unpadded"],
)
def test_a_base64_32_byte_key_is_used_as_is(encode: Any) -> None:
    """The auth service seals signing keys and TOTP secrets under keys derived from these
    bytes: they must be exactly what they were before passphrases were accepted."""
    raw = os.urandom(32)
    settings = load_settings({"encryption_key": encode(raw).decode()}, env_file=None)

    assert encryption_key(settings) == raw
    sealed = SecretBox(derive_key(raw, "aicc-auth-signing-keys")).seal(b"signing key")
    reopened = SecretBox(derive_key(encryption_key(settings), "aicc-auth-signing-keys"))
    assert reopened.open(sealed) == b"signing key"


def test_an_empty_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is empty"):
        encryption_key(load_settings({"encryption_key": ""}, env_file=None))


async def test_rotation_local_to_local_then_the_old_key_is_not_needed(
    deploy: Deployment,
) -> None:
    (old, old_raw), (new, new_raw) = new_master(), new_master()
    sealed = await store(deploy.keys(old), [f"o{i}" for i in range(5)])
    rotating = deploy.keys(new, previous=[old])
    await read_all(rotating, sealed)
    assert (await rotating.status()).data_keys == {local_kek_id(old_raw): 5}

    report = await rotating.rotate(batch_size=2)

    assert (report.rewrapped, report.batches, report.unreadable) == (5, 3, {})
    assert report.writing_kek_id == local_kek_id(new_raw)
    status = await rotating.status()
    assert (status.writing_kek_id, status.data_keys) == (
        local_kek_id(new_raw),
        {report.writing_kek_id: 5},
    )
    await read_all(deploy.keys(new), sealed)
    assert (await deploy.keys(new).rotate()).rewrapped == 0


async def test_a_missing_old_key_is_named_and_rotation_leaves_its_keys_alone(
    deploy: Deployment,
) -> None:
    (old, old_raw), (new, _) = new_master(), new_master()
    await store(deploy.keys(old), ["m1", "m2"])
    without_old = deploy.keys(new)

    with pytest.raises(KekUnavailable) as missing:
        await without_old.get("m1")
    report = await without_old.rotate()

    assert missing.value.kek_id == local_kek_id(old_raw)
    assert local_kek_id(old_raw) in missing.value.message
    assert "AICC_PREVIOUS_ENCRYPTION_KEYS" in missing.value.message
    assert old not in missing.value.message
    assert (report.rewrapped, report.unreadable) == (0, {local_kek_id(old_raw): 2})
    assert (await without_old.status()).data_keys == {local_kek_id(old_raw): 2}


async def test_an_interrupted_rotation_resumes_where_it_stopped(deploy: Deployment) -> None:
    (old, old_raw), (new, new_raw) = new_master(), new_master()
    sealed = await store(deploy.keys(old), [f"r{i}" for i in range(5)])
    rotating = deploy.keys(new, previous=[old])

    def crash_after_first_batch(report: RotationReport) -> None:
        raise KeyboardInterrupt(f"killed after {report.rewrapped}")

    with pytest.raises(KeyboardInterrupt, match="killed after 2"):
        await rotating.rotate(batch_size=2, on_batch=crash_after_first_batch)
    halfway = await rotating.status()
    resumed = await deploy.keys(new, previous=[old]).rotate(batch_size=2)

    assert halfway.data_keys == {local_kek_id(old_raw): 3, local_kek_id(new_raw): 2}
    assert (resumed.rewrapped, resumed.batches) == (3, 2)
    await read_all(deploy.keys(new), sealed)


async def test_a_destroyed_key_makes_the_payload_unreadable(deploy: Deployment) -> None:
    key, _ = new_master()
    keys, elsewhere = deploy.keys(key), deploy.keys(key)
    sealed = await store(keys, ["recording:9", "recording:10"])
    await read_all(keys, sealed)

    assert await elsewhere.destroy("recording:9") is True

    with pytest.raises(DataKeyDestroyed) as gone:
        await keys.get("recording:9")
    assert gone.value.status_code == 410 and gone.value.error_code == "data_key_destroyed"
    assert await elsewhere.destroy("recording:9") is False
    with pytest.raises(DataKeyExists):
        await keys.create("recording:9")
    with pytest.raises(DataKeyNotFound):
        await keys.destroy("recording:never")
    other_key = await keys.get("recording:10")
    with pytest.raises(InvalidTag):
        SecretBox(other_key).open(sealed["recording:9"], context=b"recording:9")
    status = await keys.status()
    assert (sum(status.data_keys.values()), status.destroyed) == (1, 1)
    assert (await deploy.keys(new_master()[0], previous=[key]).rotate()).rewrapped == 1
    with pytest.raises(DataKeyDestroyed):
        await keys.get("recording:9")


async def test_kms_wraps_and_binds_keys_to_their_object(
    deploy: Deployment, database: Database, kms_endpoint: str
) -> None:
    alias, arn = new_kms_key(kms_endpoint)
    keys = deploy.keys(new_master()[0], kms=alias)
    sealed = await store(keys, ["cred:1", "cred:2"])

    await read_all(keys, sealed)
    status = await keys.status()
    assert (status.writing_kek_id, status.data_keys) == (arn, {arn: 2})
    await copy_wrapped_key(database, "cred:1", "cred:2")
    with pytest.raises(DataKeyCorrupt):
        await deploy.keys(new_master()[0], kms=alias).get("cred:2")


async def test_a_missing_kms_key_is_named(deploy: Deployment, kms_endpoint: str) -> None:
    keys = deploy.keys(new_master()[0], kms="alias/aicc-does-not-exist")

    with pytest.raises(KekUnavailable) as missing:
        await keys.create("cred:3")
    assert missing.value.kek_id == "alias/aicc-does-not-exist"
    assert "AICC_KMS_KEY_ID" in missing.value.message


async def test_rotation_local_to_kms_then_the_local_key_is_not_needed(
    deploy: Deployment, kms_endpoint: str
) -> None:
    alias, arn = new_kms_key(kms_endpoint)
    local, _ = new_master()
    sealed = await store(deploy.keys(local), ["l1", "l2", "l3"])

    report = await deploy.keys(local, kms=alias).rotate(batch_size=2)

    assert (report.writing_kek_id, report.rewrapped) == (arn, 3)
    another_master = deploy.keys(new_master()[0], kms=alias)
    assert (await another_master.status()).data_keys == {arn: 3}
    await read_all(another_master, sealed)


async def test_rotation_kms_to_another_kms_key(deploy: Deployment, kms_endpoint: str) -> None:
    (first_alias, first_arn), (second_alias, second_arn) = (
        new_kms_key(kms_endpoint),
        new_kms_key(kms_endpoint),
    )
    local, _ = new_master()
    sealed = await store(deploy.keys(local, kms=first_alias), ["k1", "k2", "k3"])

    report = await deploy.keys(local, kms=second_alias).rotate(batch_size=2)

    assert (report.rewrapped, report.unreadable) == (3, {})
    after = deploy.keys(new_master()[0], kms=second_alias)
    assert (await after.status()).data_keys == {second_arn: 3}
    assert first_arn not in (await after.status()).data_keys
    await read_all(after, sealed)


@pytest.mark.parametrize(("cache_size", "decrypts"), [(1024, 1), (0, 3)])
async def test_unwrapped_keys_are_cached_so_hot_objects_skip_kms(
    deploy: Deployment,
    aws: AwsClients,
    kms_endpoint: str,
    cache_size: int,
    decrypts: int,
) -> None:
    alias, _ = new_kms_key(kms_endpoint)
    local, _ = new_master()
    await store(deploy.keys(local, kms=alias), ["hot"])
    calls: list[str] = []
    kms = await aws.client("kms")
    kms.meta.events.register("before-call.kms.Decrypt", lambda **_: calls.append("Decrypt"))
    reader = deploy.keys(local, kms=alias, cache_size=cache_size)

    first = [await reader.get("hot") for _ in range(3)]
    await deploy.keys(local, kms=alias).destroy("hot")

    assert len(set(first)) == 1 and len(calls) == decrypts
    with pytest.raises(DataKeyDestroyed):
        await reader.get("hot")
