"""``aicc keys status`` and ``aicc keys rotate`` as an operator runs them: real subprocesses
on an SQLite file, with local master keys and with KMS served by moto over HTTP."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from aicc.core.aws import AwsClients
from aicc.core.config import load_settings
from aicc.core.crypto import SecretBox
from aicc.core.db import Database
from aicc.core.keys import DataKeys, local_kek_id
from aicc.core.migrate import upgrade
from tests.processes import aicc_env, run_aicc

REGION = "us-east-1"
T = TypeVar("T")


def new_master() -> tuple[str, bytes]:
    raw = os.urandom(32)
    return base64.b64encode(raw).decode(), raw


class Site:
    """One installation: its database file, and the environment each command runs with."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.database_url = f"sqlite:///{tmp_path / 'aicc.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        return aicc_env(self.tmp_path, DATABASE_URL=self.database_url, AWS_REGION=REGION, **extra)

    def aicc(self, *args: str, **extra: str) -> tuple[int, Any, str]:
        done = run_aicc("keys", *args, env=self.env(**extra), cwd=self.tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr

    async def seal(self, key: str, refs: Sequence[str], kms: str | None = None) -> dict[str, bytes]:
        """What a wing does in its own process: a data key per object, the payload sealed."""
        return await self._with_keys(key, kms, lambda keys: _seal(keys, refs))

    async def read(self, key: str, sealed: dict[str, bytes], kms: str | None = None) -> None:
        await self._with_keys(key, kms, lambda keys: _read(keys, sealed))

    async def _with_keys(
        self, key: str, kms: str | None, use: Callable[[DataKeys], Awaitable[T]]
    ) -> T:
        overrides = {"encryption_key": key, "security.kms_key_id": kms, "aws.region": REGION}
        settings = load_settings(overrides, env_file=None)
        database, aws = Database(self.database_url), AwsClients(settings.aws)
        try:
            await upgrade(database)
            return await use(DataKeys.from_settings(settings, database, aws))
        finally:
            await aws.close()
            await database.close()


async def _seal(keys: DataKeys, refs: Sequence[str]) -> dict[str, bytes]:
    sealed = {}
    for ref in refs:
        data_key = await keys.create(ref)
        sealed[ref] = SecretBox(data_key).seal(ref.encode(), context=ref.encode())
    return sealed


async def _read(keys: DataKeys, sealed: dict[str, bytes]) -> None:
    for ref, blob in sealed.items():
        assert SecretBox(await keys.get(ref)).open(blob, context=ref.encode()) == ref.encode()


async def test_status_then_rotate_onto_a_new_master_key(tmp_path: Path) -> None:
    site = Site(tmp_path)
    (old, old_raw), (new, new_raw) = new_master(), new_master()
    code, empty, _ = site.aicc("status", ENCRYPTION_KEY=old)
    assert code == 0
    assert empty == {"writing_kek_id": local_kek_id(old_raw), "data_keys": {}, "destroyed": 0}
    sealed = await site.seal(old, ["recording:1", "recording:2", "recording:3"])

    rotating = {"ENCRYPTION_KEY": new, "AICC_PREVIOUS_ENCRYPTION_KEYS": old}
    _, before, _ = site.aicc("status", **rotating)
    code, rotated, stderr = site.aicc("rotate", "--batch-size", "2", **rotating)
    _, after, _ = site.aicc("status", ENCRYPTION_KEY=new)

    assert before["data_keys"] == {local_kek_id(old_raw): 3}
    assert code == 0, stderr
    assert (rotated["rewrapped"], rotated["batches"], rotated["unreadable"]) == (3, 2, {})
    assert after == {
        "writing_kek_id": local_kek_id(new_raw),
        "data_keys": {after["writing_kek_id"]: 3},
        "destroyed": 0,
    }
    await site.read(new, sealed)
    assert old not in stderr and new not in stderr


async def test_rotate_reports_keys_whose_kek_is_missing(tmp_path: Path) -> None:
    site = Site(tmp_path)
    (old, old_raw), (new, _) = new_master(), new_master()
    await site.seal(old, ["cred:1", "cred:2"])

    code, report, stderr = site.aicc("rotate", ENCRYPTION_KEY=new)

    assert code == 1
    assert (report["rewrapped"], report["unreadable"]) == (0, {local_kek_id(old_raw): 2})
    assert local_kek_id(old_raw) in stderr and "aicc keys rotate" in stderr
    assert old not in stderr and new not in stderr


async def test_rotate_from_the_master_key_onto_kms(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_endpoint)
    kms: Any = boto3.client("kms", endpoint_url=moto_endpoint, region_name=REGION)
    key = kms.create_key()["KeyMetadata"]
    alias = f"alias/aicc-encryption-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    site = Site(tmp_path)
    master, _ = new_master()
    sealed = await site.seal(master, ["chat:1", "chat:2"])
    with_kms = {"ENCRYPTION_KEY": master, "AICC_KMS_KEY_ID": alias}

    code, rotated, stderr = site.aicc("rotate", AWS_ENDPOINT_URL_KMS=moto_endpoint, **with_kms)
    _, status, _ = site.aicc("status", AWS_ENDPOINT_URL_KMS=moto_endpoint, **with_kms)

    assert code == 0, stderr
    assert (rotated["writing_kek_id"], rotated["rewrapped"]) == (key["Arn"], 2)
    assert status["data_keys"] == {key["Arn"]: 2}
    await site.read(new_master()[0], sealed, kms=alias)
