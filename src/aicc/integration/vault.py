"""Each integration's secrets under its own data key (envelope encryption): its
``auth_config``, cached tokens, message payloads and results, and webhook events. Deleting
the integration destroys the key, and with it everything sealed under it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.crypto import SecretBox
from aicc.core.keys import DataKeys

MASK = "***"


def key_ref(integration_id: str) -> str:
    return f"integration:{integration_id}"


class Vault:
    def __init__(self, data_keys: DataKeys) -> None:
        self.data_keys = data_keys
        self._boxes: dict[bytes, SecretBox] = {}

    async def create(self, conn: AsyncConnection, integration_id: str) -> bytes:
        return await self.data_keys.create(key_ref(integration_id), conn=conn)

    async def key(self, integration_id: str) -> bytes:
        return await self.data_keys.get(key_ref(integration_id))

    async def destroy(self, conn: AsyncConnection, integration_id: str) -> None:
        await self.data_keys.destroy(key_ref(integration_id), conn=conn)

    def seal(self, key: bytes, value: Any, context: str) -> bytes:
        return self._box(key).seal(orjson.dumps(value), context=context.encode())

    def open(self, key: bytes, sealed: bytes, context: str) -> Any:
        return orjson.loads(self._box(key).open(sealed, context=context.encode()))

    def _box(self, key: bytes) -> SecretBox:
        box = self._boxes.get(key)
        if box is None:
            if len(self._boxes) > 1024:
                self._boxes.clear()
            box = self._boxes[key] = SecretBox(key)
        return box


def masked_config(auth_config: Mapping[str, Any], secret_keys: Iterable[str]) -> dict[str, Any]:
    """``auth_config`` as responses show it: which secrets are set, never their values."""
    secrets = set(secret_keys)
    return {
        key: (MASK if key in secrets or _looks_secret(key) else value)
        for key, value in auth_config.items()
    }


def _looks_secret(key: str) -> bool:
    """A key the connector did not declare, named like a secret (``api_token``), but not a
    URL or an id (``token_url``, ``key_id``)."""
    lowered = key.lower()
    if lowered.endswith(("_url", "_uri", "_id", "_ids", "_name", "_header")):
        return False
    return any(word in lowered for word in ("secret", "password", "token", "private", "key"))


def mask(value: Any, fields: frozenset[str]) -> Any:
    """``value`` with every object field named in ``fields`` (any depth, any case) hidden."""
    if isinstance(value, dict):
        return {k: (MASK if k.lower() in fields else mask(v, fields)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, fields) for v in value]
    return value
