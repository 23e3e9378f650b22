"""Session revocation shared by every service through the cache.

The auth service records, per session id, a "not before" time: access tokens of that session
issued earlier are refused. A revoked session gets +inf; a session whose roles changed gets
"now", so its holder refreshes into a token with the new roles. Each process keeps what it
learned in memory and hears changes on a publish/subscribe channel, so the request path
costs a dictionary lookup and, for a session not seen for a few seconds, one cache read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from aicc.core.cache import Cache

KEY = "auth:sid-nbf:"
CHANNEL = "auth:revocations"
KEYS_CHANGED = b"!keys-changed"
"""Also sent on the channel when the signing keys change, so verifiers refetch the JWKS."""
logger = logging.getLogger("aicc.core.revocation")


class SessionRevocations:
    def __init__(
        self,
        cache: Cache,
        *,
        retention: float,
        recheck_interval: float = 5.0,
        max_memo: int = 100_000,
    ) -> None:
        self.cache = cache
        self.retention = retention
        self.recheck_interval = recheck_interval
        self.max_memo = max_memo
        self._memo: dict[str, tuple[float | None, float]] = {}
        self._listener: asyncio.Task[None] | None = None
        self.key_listeners: list[Callable[[], None]] = []

    async def announce_keys_changed(self) -> None:
        await self.cache.publish(CHANNEL, KEYS_CHANGED)

    async def revoke(self, sid: str, not_before: float = math.inf) -> None:
        """Refuse the session's tokens issued before ``not_before`` (default: all of them)."""
        value = "inf" if math.isinf(not_before) else repr(not_before)
        await self.cache.set(KEY + sid, value.encode(), ttl=self.retention)
        self._remember(sid, not_before, time.monotonic())
        await self.cache.publish(CHANNEL, f"{sid} {value}".encode())

    async def not_before(self, sid: str) -> float | None:
        now = time.monotonic()
        memo = self._memo.get(sid)
        if memo is not None and now - memo[1] < self.recheck_interval:
            return memo[0]
        raw = await self.cache.get(KEY + sid)
        value = float(raw) if raw is not None else None
        self._remember(sid, value, now)
        return value

    def _remember(self, sid: str, value: float | None, at: float) -> None:
        if len(self._memo) >= self.max_memo:
            cutoff = at - self.recheck_interval
            self._memo = {k: v for k, v in self._memo.items() if v[1] >= cutoff}
            if len(self._memo) >= self.max_memo:
                self._memo.clear()
        self._memo[sid] = (value, at)

    async def start(self) -> None:
        """Listen for revocations published by other processes."""
        if self._listener is None:
            ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(ready), name="aicc-revocations")
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self.cache.subscribe(CHANNEL) as subscription:
                    ready.set()
                    async for message in subscription:
                        self._apply(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                ready.set()
                logger.warning("revocation channel lost; retrying", exc_info=True)
                self._memo.clear()
                await asyncio.sleep(1.0)

    def _apply(self, message: bytes) -> None:
        if message == KEYS_CHANGED:
            for listener in self.key_listeners:
                listener()
            return
        try:
            sid, value = message.decode().split(" ", 1)
            self._remember(sid, float(value), time.monotonic() + self.recheck_interval * 60)
        except ValueError:
            logger.warning("ignored a malformed revocation message")
