"""A circuit breaker per integration whose state every replica shares through the cache.

Closed: calls go through; each failure adds to a shared counter that any success resets.
When the counter reaches ``threshold`` the breaker opens for ``reset_seconds``: calls fail
fast. Then it is half-open: exactly one caller (across replicas) gets the probe; its success
closes the breaker, its failure opens it again. A call on a healthy integration costs one
cache read, and none when a healthy integration was read less than a quarter second ago.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum

from aicc.core.cache import Cache

FAILURE_WINDOW = 3600.0
MEMO_SECONDS = 0.25
"""A failure counter left alone this long is forgotten."""


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpen(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open for {retry_after:.1f}s more")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Admission:
    probe: bool
    """This call is the half-open probe."""
    dirty: bool
    """Failures were counted before the call: a success must reset them."""


class Breaker:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._clean: dict[str, float] = {}
        """Integrations seen with no failures counted, and when (read again after
        ``MEMO_SECONDS``: another replica's failures count here within that time)."""

    @staticmethod
    def _keys(integration_id: str) -> tuple[str, str, str]:
        base = f"integration:breaker:{integration_id}"
        return f"{base}:failures", f"{base}:open", f"{base}:probe"

    async def _failures(self, key: str) -> int:
        raw = await self.cache.get(key)
        return int(raw) if raw else 0

    async def admit(self, integration_id: str, *, threshold: int, probe_ttl: float) -> Admission:
        """Let a call through, or raise :class:`BreakerOpen`."""
        clock = time.monotonic()
        seen = self._clean.get(integration_id)
        if seen is not None and clock - seen < MEMO_SECONDS:
            return Admission(probe=False, dirty=False)
        failures, opened, probe = self._keys(integration_id)
        count = await self._failures(failures)
        if count == 0:
            if len(self._clean) > 10000:
                self._clean.clear()
            self._clean[integration_id] = clock
        if count < threshold:
            return Admission(probe=False, dirty=count > 0)
        remaining = await self.cache.ttl(opened)
        if remaining is not None and remaining > 0:
            raise BreakerOpen(remaining)
        if await self.cache.set(probe, b"1", ttl=probe_ttl, only_if_absent=True):
            return Admission(probe=True, dirty=True)
        raise BreakerOpen(1.0)

    async def succeeded(self, integration_id: str, admission: Admission) -> BreakerState | None:
        """Record a success; returns the new state when it changed."""
        if not admission.dirty:
            return None
        failures, _, probe = self._keys(integration_id)
        await self.cache.delete(failures, probe)
        return BreakerState.CLOSED if admission.probe else None

    async def failed(
        self,
        integration_id: str,
        admission: Admission,
        *,
        threshold: int,
        reset_seconds: float,
    ) -> BreakerState | None:
        """Record a failure; returns OPEN when this failure opened the breaker."""
        self._clean.pop(integration_id, None)
        failures, opened, probe = self._keys(integration_id)
        count = await self.cache.incr(failures, ttl=FAILURE_WINDOW)
        if count < threshold and not admission.probe:
            return None
        await self.cache.set(opened, b"1", ttl=reset_seconds)
        await self.cache.delete(probe)
        return BreakerState.OPEN

    async def state(self, integration_id: str, *, threshold: int) -> BreakerState:
        failures, opened, _ = self._keys(integration_id)
        if await self._failures(failures) < threshold:
            return BreakerState.CLOSED
        remaining = await self.cache.ttl(opened)
        return BreakerState.OPEN if remaining and remaining > 0 else BreakerState.HALF_OPEN

    async def reset(self, integration_id: str) -> None:
        self._clean.pop(integration_id, None)
        await self.cache.delete(*self._keys(integration_id))
