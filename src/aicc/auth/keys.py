"""Signing keys for access tokens: Ed25519 (EdDSA) in the database, private halves sealed
under the master key, public halves served as the JWKS. Or, in the explicit shared-secret
mode, HS256 with ``JWT_SECRET``.

Rotation adds a key and retires the previous one; a retired key stays in the JWKS until
every token it signed has expired.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select, update

from aicc.auth import models
from aicc.core.crypto import SecretBox
from aicc.core.db import Database
from aicc.core.errors import Unauthorized
from aicc.core.tokens import ACCESS_TOKEN_TYPE

ALGORITHM = "EdDSA"


class Signer(Protocol):
    """Signs access tokens and publishes what verifies them."""

    @property
    def jwks(self) -> dict[str, Any]: ...

    def sign(self, claims: dict[str, Any]) -> str: ...


def _now() -> datetime:
    return datetime.now(UTC)


class KeyStore:
    """Loads, creates and rotates signing keys; caches them in process."""

    RELOAD_INTERVAL = 60.0
    """Replicas re-read the keys this often, so a rotation reaches every one of them."""

    def __init__(self, database: Database, box: SecretBox, *, token_ttl: int, leeway: int) -> None:
        self.database = database
        self.box = box
        self.retention = timedelta(seconds=token_ttl + leeway + 2 * self.RELOAD_INTERVAL)
        self._signing: tuple[str, Ed25519PrivateKey] | None = None
        self._public: dict[str, jwt.PyJWK] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = 0.0

    async def load(self, *, create: bool = True) -> None:
        """Read the keys; make the first one if there is none (races settle on one)."""
        rows = await self._rows()
        if not any(r.retired_at is None for r in rows) and create:
            async with self.database.locked_transaction("auth:first-signing-key") as conn:
                rows = list(await conn.execute(select(models.signing_key)))
                if not any(r.retired_at is None for r in rows):
                    await conn.execute(insert(models.signing_key).values(**self._new_key_row()))
            rows = await self._rows()
        active = [r for r in rows if r.retired_at is None]
        if active:
            newest = max(active, key=lambda r: r.created_at)
            pem = self.box.open(newest.private_key, context=newest.kid.encode())
            private = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(private, Ed25519PrivateKey)
            self._signing = (newest.kid, private)
        cutoff = _now() - self.retention
        published = [r for r in rows if r.retired_at is None or _aware(r.retired_at) > cutoff]
        self._jwks = {"keys": [dict(r.public_jwk) for r in published]}
        self._public = {r.kid: jwt.PyJWK(dict(r.public_jwk)) for r in published}
        self._loaded_at = time.monotonic()

    async def rotate(self) -> str:
        """Make a new signing key and retire the others; returns the new ``kid``."""
        kid = await self._insert_new_key()
        async with self.database.transaction() as conn:
            await conn.execute(
                update(models.signing_key)
                .where(models.signing_key.c.kid != kid, models.signing_key.c.retired_at.is_(None))
                .values(retired_at=_now())
            )
        await self.load(create=False)
        return kid

    async def _rows(self) -> list[Any]:
        async with self.database.connect() as conn:
            result = await conn.execute(select(models.signing_key))
            return list(result)

    def _new_key_row(self) -> dict[str, Any]:
        private = Ed25519PrivateKey.generate()
        kid = uuid.uuid4().hex[:16]
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
        return {
            "kid": kid,
            "algorithm": ALGORITHM,
            "private_key": self.box.seal(pem, context=kid.encode()),
            "public_jwk": public_jwk,
            "created_at": _now(),
        }

    async def _insert_new_key(self) -> str:
        row = self._new_key_row()
        async with self.database.transaction() as conn:
            await conn.execute(insert(models.signing_key).values(**row))
        return str(row["kid"])

    @property
    def jwks(self) -> dict[str, Any]:
        return self._jwks

    async def public_key(self, kid: str) -> jwt.PyJWK:
        key = self._public.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 5:
            await self.load(create=False)
            key = self._public.get(kid)
        if key is None:
            raise Unauthorized("Token signed with an unknown key", code="invalid_token")
        return key

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing is None:
            raise RuntimeError("no signing key loaded")
        kid, private = self._signing
        headers = {"kid": kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, private, algorithm=ALGORITHM, headers=headers)


class SharedSecretSigner:
    """HS256 with ``JWT_SECRET``: the spec's weaker, shared-secret mode (no JWKS)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": []}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.secret, algorithm="HS256", headers={"typ": ACCESS_TOKEN_TYPE}
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
