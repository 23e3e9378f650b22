"""The cache contract every backend fulfils: memory (embedded default) and Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, Self, runtime_checkable

_logger = logging.getLogger("aicc.core.cache")


class LockNotAcquired(Exception):
    """Raised when a lock could not be taken within its blocking timeout."""


@runtime_checkable
class Lock(Protocol):
    """A lease held by one owner until released or until its TTL passes.

    Release and extend act only while the caller still owns the lease, so an owner that
    stalled past its TTL can never release a lock someone else has taken since.
    """

    name: str

    async def acquire(self, *, blocking_timeout: float | None = None) -> bool:
        """Take the lock; wait up to ``blocking_timeout`` seconds (``None``: do not wait)."""
        ...

    async def release(self) -> bool:
        """Give the lock back; False if it was no longer ours."""
        ...

    async def extend(self, ttl: float) -> bool:
        """Reset the remaining lease to ``ttl`` seconds; False if it was no longer ours."""
        ...

    async def __aenter__(self) -> Lock: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class LockContext:
    """``async with lock:`` for both backends: wait up to the lease's TTL, release on exit."""

    name: str
    _ttl: float

    async def acquire(self, *, blocking_timeout: float | None = None) -> bool:
        raise NotImplementedError

    async def release(self) -> bool:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if not await self.acquire(blocking_timeout=self._ttl):
            raise LockNotAcquired(f"lock {self.name!r} not acquired within {self._ttl}s")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not await self.release():
            _logger.warning("lock %r expired before it was released", self.name)


class Subscription(Protocol):
    """Messages published on one channel after the subscription started."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def get(self, timeout: float | None = None) -> bytes | None:
        """The next message, or None when ``timeout`` seconds pass without one."""
        ...


@runtime_checkable
class Cache(Protocol):
    """Key/value cache with TTLs, atomic counters, locks and publish/subscribe.

    Keys are plain strings; the backend applies its own namespace prefix. Values are bytes.
    TTLs are in seconds (floats allowed; backends keep at least millisecond precision).
    """

    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store ``value``; with ``only_if_absent`` nothing happens when the key exists.

        Returns whether the value was written.
        """
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount`` atomically and return the new value.

        A missing key starts at 0. ``ttl`` is applied when the key is created by this call
        and left alone otherwise (fixed-window counters).
        """
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; None if it has no expiry or does not exist."""
        ...

    async def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed."""
        ...

    def lock(self, name: str, *, ttl: float) -> Lock: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...

    async def close(self) -> None: ...
