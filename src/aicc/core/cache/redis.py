"""Redis cache for deployments with more than one process; every name gets this cache's prefix."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from aicc.core.cache.base import Lock, LockContext, Subscription
from aicc.core.errors import ConfigError

_CONNECT_TIMEOUT = 2.0
_SOCKET_TIMEOUT = 5.0
_HEALTH_CHECK_INTERVAL = 30
_POLL_MIN = 0.005
_POLL_MAX = 0.1
_DELETE_BATCH = 500

# Counts a key as created when it did not exist before this INCRBY, so the expiry is set
# once per window and the counter can never be left without one.
_INCR = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _ms(ttl: float) -> int:
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return max(1, round(ttl * 1000))


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def _retry(attempt: Callable[[], Awaitable[bool]], wait: float | None) -> bool:
    deadline = time.monotonic() + (wait or 0.0)
    delay = _POLL_MIN
    while not await attempt():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX)
    return True


class _RedisLock(LockContext):
    def __init__(self, cache: RedisCache, name: str, ttl: float) -> None:
        self.name = name
        self._cache = cache
        self._key = cache._key(f"lock:{name}")
        self._ttl = ttl
        self._ttl_ms = _ms(ttl)
        self._token: bytes | None = None

    async def acquire(self, *, blocking_timeout: float | None = None) -> bool:
        token = secrets.token_hex(16).encode()

        async def attempt() -> bool:
            client = self._cache._client
            return bool(await client.set(self._key, token, px=self._ttl_ms, nx=True))

        if await _retry(attempt, blocking_timeout):
            self._token = token
            return True
        return False

    async def release(self) -> bool:
        token, self._token = self._token, None
        if token is None:
            return False
        return bool(await self._cache._release(keys=[self._key], args=[token]))

    async def extend(self, ttl: float) -> bool:
        ttl_ms = _ms(ttl)
        if self._token is None:
            return False
        return bool(await self._cache._extend(keys=[self._key], args=[self._token, ttl_ms]))


class _RedisSubscription:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self.closed = False

    async def get(self, timeout: float | None = None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=remaining
            )
            if message is not None and message["type"] == "message":
                data: bytes = message["data"]
                return data
            if deadline is not None and time.monotonic() >= deadline:
                return None
        return None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (message := await self.get()) is not None:
            yield message


class RedisCache:
    """The :class:`~aicc.core.cache.base.Cache` contract on Redis.

    Keys live under ``prefix``, locks under ``prefix + "lock:"``, and channels are
    ``prefix + channel``. Construction does not connect; the first command does.
    """

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "aicc:") -> None:
        self._prefix = prefix
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_SOCKET_TIMEOUT,
            health_check_interval=_HEALTH_CHECK_INTERVAL,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1),
        )
        if self._client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigError("REDIS_URL must not set decode_responses; the cache stores bytes")
        self._incr = self._client.register_script(_INCR)
        self._release = self._client.register_script(_RELEASE)
        self._extend = self._client.register_script(_EXTEND)

    def _key(self, name: str) -> str:
        return self._prefix + name

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.get(self._key(key)))

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl is None else _ms(ttl)
        written = await self._client.set(self._key(key), value, px=px, nx=only_if_absent)
        return bool(written)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        ttl_ms = 0 if ttl is None else _ms(ttl)
        return int(await self._incr(keys=[self._key(key)], args=[amount, ttl_ms]))

    async def ttl(self, key: str) -> float | None:
        remaining_ms = await self._client.pttl(self._key(key))
        return None if remaining_ms < 0 else remaining_ms / 1000

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return await self._client.delete(*(self._key(key) for key in keys))

    def lock(self, name: str, *, ttl: float) -> Lock:
        return _RedisLock(self, name, ttl)

    async def publish(self, channel: str, message: bytes) -> None:
        await self._client.publish(self._key(channel), message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Yields only once Redis has confirmed the subscription, so no later message is lost."""
        async with self._client.pubsub() as pubsub:
            subscription = _RedisSubscription(pubsub)
            try:
                await pubsub.subscribe(self._key(channel))
                await self._confirmed(pubsub)
                yield subscription
            finally:
                subscription.closed = True

    @staticmethod
    async def _confirmed(pubsub: PubSub) -> None:
        deadline = time.monotonic() + _SOCKET_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=remaining)
            if message is not None and message["type"] == "subscribe":
                return
        raise TimeoutError("Redis did not confirm the subscription")

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def delete_prefix(self) -> int:
        """Delete every key under this cache's prefix; returns how many were deleted.

        For tests and operations only: it SCANs the whole keyspace.
        """
        deleted = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=_glob_escape(self._prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= _DELETE_BATCH:
                deleted += await self._client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await self._client.unlink(*batch)
        return deleted
