"""One contract, two backends: every test here runs against MemoryCache and RedisCache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from aicc.core.cache import Cache, LockNotAcquired, open_cache
from aicc.core.cache.redis import RedisCache
from aicc.core.errors import ConfigError


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        memory = open_cache("memory://")
        yield memory
        await memory.close()
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    redis = RedisCache(redis_url, prefix=prefix)
    try:
        yield redis
    finally:
        await redis.delete_prefix()
        await redis.close()


async def test_get_set_and_overwrite(cache: Cache) -> None:
    assert await cache.get("k") is None
    assert await cache.set("k", b"one") is True
    assert await cache.get("k") == b"one"
    assert await cache.set("k", b"two") is True
    assert await cache.get("k") == b"two"


async def test_set_only_if_absent(cache: Cache) -> None:
    assert await cache.set("k", b"first", only_if_absent=True) is True
    assert await cache.set("k", b"second", only_if_absent=True) is False
    assert await cache.get("k") == b"first"


async def test_set_with_ttl_expires(cache: Cache) -> None:
    await cache.set("k", b"v", ttl=0.5)
    assert await cache.get("k") == b"v"
    await asyncio.sleep(0.6)
    assert await cache.get("k") is None
    assert await cache.set("k", b"again", only_if_absent=True) is True


async def test_non_positive_ttl_is_rejected(cache: Cache) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", b"v", ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        await cache.incr("n", ttl=-1)


async def test_ttl(cache: Cache) -> None:
    assert await cache.ttl("missing") is None
    await cache.set("forever", b"v")
    assert await cache.ttl("forever") is None
    await cache.set("brief", b"v", ttl=10)
    remaining = await cache.ttl("brief")
    assert remaining is not None
    assert 9 < remaining <= 10


async def test_incr_starts_from_zero(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.incr("n", -2) == 4
    assert await cache.get("n") == b"4"
    assert await cache.ttl("n") is None


async def test_incr_applies_ttl_only_on_creation(cache: Cache) -> None:
    assert await cache.incr("window", ttl=1.0) == 1
    await asyncio.sleep(0.3)
    assert await cache.incr("window", ttl=1.0) == 2
    remaining = await cache.ttl("window")
    assert remaining is not None
    assert remaining <= 0.71
    await asyncio.sleep(0.8)
    assert await cache.get("window") is None
    assert await cache.incr("window", ttl=1.0) == 1


async def test_concurrent_incr_loses_nothing(cache: Cache) -> None:
    results = await asyncio.gather(*(cache.incr("n", ttl=5) for _ in range(100)))
    assert sorted(results) == list(range(1, 101))
    assert await cache.get("n") == b"100"


async def test_delete_returns_how_many_existed(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.set("gone", b"3", ttl=0.05)
    await asyncio.sleep(0.08)
    assert await cache.delete() == 0
    assert await cache.delete("a", "b", "gone", "never") == 2
    assert await cache.get("a") is None
    assert await cache.get("b") is None


async def test_lock_is_exclusive_and_non_blocking_by_default(cache: Cache) -> None:
    first = cache.lock("job", ttl=5)
    second = cache.lock("job", ttl=5)
    assert await first.acquire() is True
    started = time.monotonic()
    assert await second.acquire() is False
    assert time.monotonic() - started < 0.1
    assert await cache.lock("other-job", ttl=5).acquire() is True
    assert await first.release() is True
    assert await first.release() is False
    assert await second.acquire() is True


async def test_blocking_acquire_waits_for_release(cache: Cache) -> None:
    holder = cache.lock("job", ttl=5)
    assert await holder.acquire()

    async def release_soon() -> None:
        await asyncio.sleep(0.05)
        await holder.release()

    releaser = asyncio.create_task(release_soon())
    waiter = cache.lock("job", ttl=5)
    assert await waiter.acquire(blocking_timeout=2) is True
    await releaser


async def test_blocking_acquire_gives_up_after_timeout(cache: Cache) -> None:
    assert await cache.lock("job", ttl=5).acquire()
    started = time.monotonic()
    assert await cache.lock("job", ttl=5).acquire(blocking_timeout=0.1) is False
    assert 0.1 <= time.monotonic() - started < 0.5


async def test_expired_lock_can_be_taken_and_stale_owner_cannot_touch_it(cache: Cache) -> None:
    stale = cache.lock("job", ttl=0.1)
    assert await stale.acquire()
    await asyncio.sleep(0.15)
    fresh = cache.lock("job", ttl=5)
    assert await fresh.acquire() is True
    assert await stale.extend(5) is False
    assert await stale.release() is False
    assert await cache.lock("job", ttl=5).acquire() is False
    assert await fresh.release() is True


async def test_extend_keeps_the_lease(cache: Cache) -> None:
    lock = cache.lock("job", ttl=0.5)
    assert await lock.acquire()
    assert await lock.extend(3) is True
    await asyncio.sleep(0.6)
    assert await cache.lock("job", ttl=5).acquire() is False
    assert await lock.release() is True


async def test_lock_context_manager(cache: Cache) -> None:
    async with cache.lock("job", ttl=5) as held:
        assert held.name == "job"
        assert await cache.lock("job", ttl=5).acquire() is False
    assert await cache.lock("job", ttl=5).acquire() is True


async def test_lock_context_manager_raises_when_lock_is_held(cache: Cache) -> None:
    assert await cache.lock("job", ttl=5).acquire()
    with pytest.raises(LockNotAcquired):
        async with cache.lock("job", ttl=0.1):
            pytest.fail("entered a lock someone else holds")


async def test_publish_fans_out_to_every_subscriber(cache: Cache) -> None:
    async with cache.subscribe("events") as one, cache.subscribe("events") as two:
        await cache.publish("events", b"hello")
        await cache.publish("other", b"not for us")
        assert await one.get(timeout=1) == b"hello"
        assert await two.get(timeout=1) == b"hello"
        assert await one.get(timeout=0.05) is None


async def test_messages_published_before_subscribing_are_not_received(cache: Cache) -> None:
    await cache.publish("events", b"early")
    async with cache.subscribe("events") as subscription:
        await cache.publish("events", b"late")
        assert await subscription.get(timeout=1) == b"late"


async def test_get_returns_none_on_timeout(cache: Cache) -> None:
    async with cache.subscribe("events") as subscription:
        started = time.monotonic()
        assert await subscription.get(timeout=0.1) is None
        assert 0.09 <= time.monotonic() - started < 0.5


async def test_subscription_is_async_iterable(cache: Cache) -> None:
    received: list[bytes] = []
    async with cache.subscribe("events") as subscription, asyncio.timeout(2):
        for n in range(3):
            await cache.publish("events", str(n).encode())
        async for message in subscription:
            received.append(message)
            if len(received) == 3:
                break
    assert received == [b"0", b"1", b"2"]


async def test_leaving_the_subscription_unsubscribes(cache: Cache) -> None:
    async with cache.subscribe("events") as gone:
        pass
    async with cache.subscribe("events") as still_here:
        await cache.publish("events", b"after")
        assert await still_here.get(timeout=1) == b"after"
    assert await gone.get(timeout=0.05) is None
    assert [message async for message in gone] == []


async def test_ping(cache: Cache) -> None:
    await cache.ping()


async def test_redis_prefixes_isolate_caches(redis_url: str, redis_prefix: str) -> None:
    first = RedisCache(redis_url, prefix=f"{redis_prefix}a:")
    second = RedisCache(redis_url, prefix=f"{redis_prefix}b:")
    try:
        await first.set("shared", b"first")
        assert await second.get("shared") is None
        assert await second.incr("shared") == 1
        assert await first.get("shared") == b"first"
        assert await first.lock("job", ttl=5).acquire()
        assert await second.lock("job", ttl=5).acquire()
        async with second.subscribe("events") as subscription:
            await first.publish("events", b"first")
            assert await subscription.get(timeout=0.05) is None
        assert await first.delete_prefix() == 2
        assert await second.get("shared") == b"1"
    finally:
        await first.delete_prefix()
        await second.delete_prefix()
        await first.close()
        await second.close()


async def test_open_cache_picks_backend_by_url() -> None:
    for url in (None, "memory://"):
        memory = open_cache(url)
        assert memory.backend == "memory"
        await memory.close()
    for url in ("redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/0", "unix:///tmp/r.sock"):
        redis = open_cache(url, prefix="aicc-test:")
        assert redis.backend == "redis"
        await redis.close()


async def test_open_cache_rejects_unknown_scheme() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        open_cache("memcached://127.0.0.1:11211")
