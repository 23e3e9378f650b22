"""Access tokens per integration: cached sealed in the shared cache, fetched once at a time
across replicas, and refreshed before they expire.

A refresh token the provider rotates (X) is also written to the integration's row, so losing
the cache never loses the only valid refresh token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update

from aicc.core.cache import Cache
from aicc.core.db import Database
from aicc.integration.connectors.base import Token
from aicc.integration.models import integration as table
from aicc.integration.vault import Vault

CACHE_TTL = 30 * 86400.0
MEMO_SECONDS = 1.0
FETCH_LOCK_TTL = 30.0
Fetch = Callable[[Token | None], Awaitable[Token]]


def _context(integration_id: str) -> str:
    return f"token:{integration_id}"


class TokenStore:
    def __init__(self, cache: Cache, database: Database, vault: Vault, margin: float) -> None:
        self.cache = cache
        self.database = database
        self.vault = vault
        self.margin = margin
        self._memo: dict[str, tuple[float, Token]] = {}

    def _usable(self, token: Token | None) -> bool:
        if token is None or token.extra.get("_stale"):
            return False
        return token.expires_at is None or token.expires_at - self.margin > time.time()

    async def get(self, integration_id: str, fetch: Fetch, key: bytes) -> Token:
        """A usable token, fetched with ``fetch(current)`` when the cached one is missing,
        stale or about to expire; ``key`` is the integration's data key. A token read from the
        cache is reused in this process for ``MEMO_SECONDS``."""
        clock = time.monotonic()
        memo = self._memo.get(integration_id)
        if memo is not None and clock - memo[0] < MEMO_SECONDS and self._usable(memo[1]):
            return memo[1]
        token = await self._cached(integration_id, key)
        if self._usable(token):
            assert token is not None
            self._remember(integration_id, token)
            return token
        async with self.cache.lock(f"integration:token-fetch:{integration_id}", ttl=FETCH_LOCK_TTL):
            token = await self._cached(integration_id, key)
            if self._usable(token):
                assert token is not None
                return token
            current = token or await self._stored(integration_id, key)
            fresh = await fetch(current)
            await self._keep(integration_id, fresh, current, key)
            self._remember(integration_id, fresh)
            return fresh

    async def invalidate(self, integration_id: str, refused: Token, key: bytes) -> None:
        """The provider refused ``refused``: the next :meth:`get` fetches a new one (keeping
        the refresh token). A newer token someone fetched meanwhile is left alone."""
        self._memo.pop(integration_id, None)
        token = await self._cached(integration_id, key)
        if token is None or token.access_token != refused.access_token:
            return
        extra = {**token.extra, "_stale": True}
        stale = Token(token.access_token, token.expires_at, token.refresh_token, extra)
        await self._write_cache(integration_id, stale, key)

    def _remember(self, integration_id: str, token: Token) -> None:
        if len(self._memo) > 10000:
            self._memo.clear()
        self._memo[integration_id] = (time.monotonic(), token)

    async def forget(self, integration_id: str) -> None:
        self._memo.pop(integration_id, None)
        await self.cache.delete(f"integration:token:{integration_id}")

    async def _cached(self, integration_id: str, key: bytes) -> Token | None:
        raw = await self.cache.get(f"integration:token:{integration_id}")
        if raw is None:
            return None
        try:
            return _token(self.vault.open(key, raw, _context(integration_id)))
        except (ValueError, InvalidTag):
            return None

    async def _stored(self, integration_id: str, key: bytes) -> Token | None:
        async with self.database.connect() as conn:
            sealed = (
                await conn.execute(select(table.c.token_sealed).where(table.c.id == integration_id))
            ).scalar_one_or_none()
        if sealed is None:
            return None
        return _token(self.vault.open(key, sealed, _context(integration_id)))

    async def _keep(
        self, integration_id: str, fresh: Token, current: Token | None, key: bytes
    ) -> None:
        await self._write_cache(integration_id, fresh, key)
        rotated = fresh.refresh_token and fresh.refresh_token != (
            current.refresh_token if current else None
        )
        if rotated:
            sealed = self.vault.seal(key, _plain(fresh), _context(integration_id))
            async with self.database.transaction() as conn:
                await conn.execute(
                    update(table).where(table.c.id == integration_id).values(token_sealed=sealed)
                )

    async def _write_cache(self, integration_id: str, token: Token, key: bytes) -> None:
        sealed = self.vault.seal(key, _plain(token), _context(integration_id))
        await self.cache.set(f"integration:token:{integration_id}", sealed, ttl=CACHE_TTL)


def _plain(token: Token) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "expires_at": token.expires_at,
        "refresh_token": token.refresh_token,
        "extra": token.extra,
    }


def _token(value: dict[str, Any]) -> Token:
    return Token(
        access_token=value["access_token"],
        expires_at=value.get("expires_at"),
        refresh_token=value.get("refresh_token"),
        extra=value.get("extra") or {},
    )
