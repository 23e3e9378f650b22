"""In-process cache: the embedded default when no Redis is configured.

State lives in plain dicts guarded by a short-held thread lock (never held across an
``await``), and nothing is bound to an event loop at construction, so one instance can be
shared by several apps in one process, even ones running their own loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aicc.core.cache.base import Lock, LockContext, Subscription

_SWEEP_INTERVAL = 1.0
_POLL_MIN = 0.005
_POLL_MAX = 0.05

_Entry = tuple[bytes, float | None]


def _expiry(ttl: float | None, now: float) -> float | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return now + ttl


async def _retry(attempt: Callable[[], bool], wait: float | None) -> bool:
    deadline = time.monotonic() + (wait or 0.0)
    delay = _POLL_MIN
    while not attempt():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX)
    return True


class _MemoryLock(LockContext):
    def __init__(self, cache: MemoryCache, name: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"lock ttl must be positive, got {ttl!r}")
        self.name = name
        self._cache = cache
        self._ttl = ttl
        self._token: str | None = None

    async def acquire(self, *, blocking_timeout: float | None = None) -> bool:
        token = secrets.token_hex(16)
        if await _retry(lambda: self._cache._take(self.name, token, self._ttl), blocking_timeout):
            self._token = token
            return True
        return False

    async def release(self) -> bool:
        token, self._token = self._token, None
        return token is not None and self._cache._give_back(self.name, token)

    async def extend(self, ttl: float) -> bool:
        if ttl <= 0:
            raise ValueError(f"lock ttl must be positive, got {ttl!r}")
        return self._token is not None and self._cache._prolong(self.name, self._token, ttl)


class _MemorySubscription:
    """Per-subscriber queue on the subscriber's own loop; ``None`` in the queue means closed."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False

    def deliver(self, message: bytes | None) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(message)
            return
        with contextlib.suppress(RuntimeError):  # the subscriber's loop is closed
            self._loop.call_soon_threadsafe(self._queue.put_nowait, message)

    def close(self) -> None:
        self._closed = True
        self.deliver(None)

    async def get(self, timeout: float | None = None) -> bytes | None:
        if self._closed:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (message := await self.get()) is not None:
            yield message


class MemoryCache:
    """The :class:`~aicc.core.cache.base.Cache` contract within one process.

    Expired keys are dropped when touched, and a sweep over all keys runs at most once per
    second on writes so keys that are never read again do not accumulate.
    """

    backend = "memory"

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._data: dict[str, _Entry] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._channels: dict[str, set[_MemorySubscription]] = {}
        self._next_sweep = time.monotonic() + _SWEEP_INTERVAL

    def _entry(self, key: str, now: float) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry

    def _maybe_sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL
        self._data = {k: e for k, e in self._data.items() if e[1] is None or e[1] > now}
        self._leases = {k: lease for k, lease in self._leases.items() if lease[1] > now}

    async def get(self, key: str) -> bytes | None:
        with self._mutex:
            entry = self._entry(key, time.monotonic())
        return None if entry is None else entry[0]

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        with self._mutex:
            now = time.monotonic()
            expires_at = _expiry(ttl, now)
            if only_if_absent and self._entry(key, now) is not None:
                return False
            self._data[key] = (bytes(value), expires_at)
            self._maybe_sweep(now)
            return True

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        with self._mutex:
            now = time.monotonic()
            expires_at = _expiry(ttl, now)
            entry = self._entry(key, now)
            if entry is None:
                value = amount
            else:
                value = int(entry[0]) + amount
                expires_at = entry[1]
            self._data[key] = (str(value).encode(), expires_at)
            self._maybe_sweep(now)
            return value

    async def ttl(self, key: str) -> float | None:
        with self._mutex:
            now = time.monotonic()
            entry = self._entry(key, now)
        if entry is None or entry[1] is None:
            return None
        return entry[1] - now

    async def delete(self, *keys: str) -> int:
        with self._mutex:
            now = time.monotonic()
            deleted = 0
            for key in keys:
                if self._entry(key, now) is not None:
                    del self._data[key]
                    deleted += 1
            return deleted

    def lock(self, name: str, *, ttl: float) -> Lock:
        return _MemoryLock(self, name, ttl)

    def _take(self, name: str, token: str, ttl: float) -> bool:
        with self._mutex:
            now = time.monotonic()
            lease = self._leases.get(name)
            if lease is not None and lease[1] > now:
                return False
            self._leases[name] = (token, now + ttl)
            self._maybe_sweep(now)
            return True

    def _held_by(self, name: str, token: str, now: float) -> bool:
        lease = self._leases.get(name)
        return lease is not None and lease[0] == token and lease[1] > now

    def _give_back(self, name: str, token: str) -> bool:
        with self._mutex:
            if not self._held_by(name, token, time.monotonic()):
                return False
            del self._leases[name]
            return True

    def _prolong(self, name: str, token: str, ttl: float) -> bool:
        with self._mutex:
            now = time.monotonic()
            if not self._held_by(name, token, now):
                return False
            self._leases[name] = (token, now + ttl)
            return True

    async def publish(self, channel: str, message: bytes) -> None:
        with self._mutex:
            subscribers = list(self._channels.get(channel, ()))
        for subscription in subscribers:
            subscription.deliver(bytes(message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = _MemorySubscription()
        with self._mutex:
            self._channels.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._mutex:
                subscribers = self._channels.get(channel)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._channels[channel]
            subscription.close()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        with self._mutex:
            self._data.clear()
            self._leases.clear()
