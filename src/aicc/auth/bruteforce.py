"""Failed-login counters in the cache, checked before any password hashing.

Per account (by normalised username, so unknown names behave like real ones): after
``lockout_threshold`` failures within ``lockout_window`` seconds the account locks for
``lockout_duration`` seconds or until an admin unlocks it. Per client IP: more than
``ip_failure_limit`` failures within ``ip_failure_window`` seconds get 429 with Retry-After.
Successful logins are never throttled per IP (a shift of agents behind one NAT address).
"""

from __future__ import annotations

import math

from aicc.core.cache import Cache
from aicc.core.config_services import AuthSettings


class LoginGuard:
    def __init__(self, cache: Cache, settings: AuthSettings) -> None:
        self.cache = cache
        self.settings = settings

    async def ip_retry_after(self, ip: str | None) -> int | None:
        """Seconds the IP must wait, or None when it may try."""
        if not ip:
            return None
        key = f"auth:fail:ip:{ip}"
        count = await self.cache.get(key)
        if count is None or int(count) < self.settings.ip_failure_limit:
            return None
        remaining = await self.cache.ttl(key)
        return max(1, math.ceil(remaining or self.settings.ip_failure_window))

    async def is_locked(self, username_key: str) -> bool:
        return await self.cache.get(f"auth:lock:{username_key}") is not None

    async def record_failure(self, username_key: str, ip: str | None) -> bool:
        """Count one failure; returns True when this failure locked the account."""
        s = self.settings
        if ip:
            await self.cache.incr(f"auth:fail:ip:{ip}", ttl=s.ip_failure_window)
        failures = await self.cache.incr(f"auth:fail:user:{username_key}", ttl=s.lockout_window)
        if failures < s.lockout_threshold:
            return False
        locked = await self.cache.set(
            f"auth:lock:{username_key}", b"1", ttl=s.lockout_duration, only_if_absent=True
        )
        await self.cache.delete(f"auth:fail:user:{username_key}")
        return locked

    async def record_success(self, username_key: str) -> None:
        await self.cache.delete(f"auth:fail:user:{username_key}")

    async def unlock(self, username_key: str) -> bool:
        removed = await self.cache.delete(
            f"auth:lock:{username_key}", f"auth:fail:user:{username_key}"
        )
        return removed > 0
