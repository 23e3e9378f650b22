"""Cache backends chosen by URL: ``memory://`` (in-process) or ``redis://`` / ``rediss://``."""

from __future__ import annotations

from aicc.core.cache.base import Cache, Lock, LockNotAcquired, Subscription
from aicc.core.errors import ConfigError

__all__ = ["Cache", "Lock", "LockNotAcquired", "Subscription", "open_cache"]


def open_cache(url: str | None, *, prefix: str = "aicc:") -> Cache:
    """Build the cache for ``url`` (None or ``memory://`` gives the in-process cache)."""
    if url is None or url.startswith("memory://"):
        from aicc.core.cache.memory import MemoryCache

        return MemoryCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from aicc.core.cache.redis import RedisCache

        return RedisCache(url, prefix=prefix)
    raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {url!r}")
