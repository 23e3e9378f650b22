"""Per-integration limits every replica shares through the cache: a call rate, a cap on
calls in flight, and a pause the provider asked for (``Retry-After`` on a throttle).

The rate is counted in one-second windows: at most ``rate`` calls start in any calendar
second (a token bucket of ``rate`` tokens refilled whole every second). Rates below one per
second are counted over a proportionally longer window. Concurrency is a set of leased slots,
so a replica that dies mid-call frees its slot when the lease runs out.
"""

from __future__ import annotations

import math
import random
import time
import uuid

from aicc.core.cache import Cache

MEMO_SECONDS = 0.25


class LimitReached(Exception):
    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"{reason}; retry in {retry_after:.2f}s")
        self.reason = reason
        self.retry_after = retry_after


class Limits:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._memo: dict[str, tuple[float, float]] = {}

    async def take_rate(self, integration_id: str, rate: float) -> None:
        """Count one call against ``rate`` per second, or raise :class:`LimitReached` with
        the time until the next window."""
        window = max(1.0, 1.0 / rate)
        allowed = max(1, math.floor(rate * window))
        now = time.time()
        index = math.floor(now / window)
        count = await self.cache.incr(f"integration:rate:{integration_id}:{index}", ttl=window + 1)
        if count > allowed:
            raise LimitReached("rate limit", (index + 1) * window - now)

    async def take_slot(self, integration_id: str, cap: int, lease: float) -> str:
        """Lease one of ``cap`` concurrency slots; returns its key, for :meth:`release`."""
        token = uuid.uuid4().hex.encode()
        for slot in random.sample(range(cap), cap):
            key = f"integration:slot:{integration_id}:{slot}"
            if await self.cache.set(key, token, ttl=lease, only_if_absent=True):
                return key
        raise LimitReached("concurrency limit", 0.05)

    async def release(self, key: str) -> None:
        await self.cache.delete(key)

    async def pause(self, integration_id: str, seconds: float) -> None:
        """Hold every replica's calls to this integration for ``seconds``."""
        if seconds > 0:
            await self.cache.set(f"integration:pause:{integration_id}", b"1", ttl=seconds)
            clock = time.monotonic()
            self._memo[integration_id] = (clock, clock + seconds)

    async def paused_for(self, integration_id: str) -> float:
        """Seconds left of a pause; read from the cache at most every ``MEMO_SECONDS`` per
        integration (another replica's pause applies here within that time)."""
        clock = time.monotonic()
        memo = self._memo.get(integration_id)
        if memo is not None and clock - memo[0] < MEMO_SECONDS:
            return max(0.0, memo[1] - clock)
        remaining = await self.cache.ttl(f"integration:pause:{integration_id}")
        left = remaining if remaining and remaining > 0 else 0.0
        if len(self._memo) > 10000:
            self._memo.clear()
        self._memo[integration_id] = (clock, clock + left)
        return left
