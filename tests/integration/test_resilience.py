"""The circuit breaker, the rate limit, the concurrency cap and OAuth2 tokens, shared by
replicas through the cache (memory and Redis)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aicc.core.errors import TooManyRequests
from aicc.integration import IntegrationService
from aicc.integration.errors import CircuitOpen, NeedsReauth, ProviderFailed
from tests.integration.delivery_support import lookup, register_shop
from tests.integration.fakes.common import Fault
from tests.integration.fakes.shop import ShopFake
from tests.integration.support import integration_settings


async def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_good_probe(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    shop.fail(*[Fault(status=503, body={"error": "down"}) for _ in range(2)])
    async with shop.running() as url:
        integration_id = await register_shop(
            integrations_on, url, breaker_threshold=2, breaker_reset_seconds=1
        )
        for _ in range(2):
            with pytest.raises(ProviderFailed):
                await integrations_on.send_message(lookup(integration_id))
        with pytest.raises(CircuitOpen) as fast:
            await integrations_on.send_message(lookup(integration_id))
        assert fast.value.status_code == 503 and "Retry-After" in fast.value.headers
        assert len(shop.calls("/customers")) == 2, "an open breaker calls nobody"
        assert (await integrations_on.get_integration(integration_id))["breaker"] == "open"
        await asyncio.sleep(1.1)
        assert (await integrations_on.get_integration(integration_id))["breaker"] == "half_open"
        probe = await integrations_on.send_message(lookup(integration_id))
        state = (await integrations_on.get_integration(integration_id))["breaker"]
    assert probe["status"] == "delivered" and state == "closed"


async def test_two_replicas_share_one_breaker(
    tmp_path: Path, redis_url: str, redis_prefix: str, postgres_url: str
) -> None:
    backend = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "redis.key_prefix": redis_prefix,
        "encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    replicas = [
        IntegrationService(settings=integration_settings(tmp_path / str(n), backend))
        for n in range(2)
    ]
    for replica in replicas:
        await replica.start()
    shop = ShopFake()
    shop.fail(*[Fault(status=500, body={}) for _ in range(3)])
    try:
        async with shop.running() as url:
            integration_id = await register_shop(
                replicas[0], url, breaker_threshold=3, breaker_reset_seconds=30
            )
            for n in range(3):
                with pytest.raises(ProviderFailed):
                    await replicas[n % 2].send_message(lookup(integration_id))
            with pytest.raises(CircuitOpen):
                await replicas[1].send_message(lookup(integration_id))
    finally:
        for replica in replicas:
            await replica.stop()
    assert len(shop.calls("/customers")) == 3


async def test_the_rate_limit_spreads_calls_over_seconds(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url, rate_limit_per_second=3)
        results = await asyncio.gather(
            *(integrations_on.send_message(lookup(integration_id)) for _ in range(7))
        )
    assert all(r["status"] == "delivered" for r in results)
    arrivals = sorted(r.at for r in shop.calls("/customers"))
    assert arrivals[-1] - arrivals[0] >= 1.0, "7 calls at 3/s need three one-second windows"
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals)
    assert busiest <= 6, "fixed windows allow at most twice the rate in any sliding second"


async def test_a_sync_call_that_cannot_wait_for_the_rate_limit_is_refused(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url, rate_limit_per_second=1)
        await integrations.send_message(lookup(integration_id))
        with pytest.raises(TooManyRequests) as limited:
            await integrations.send_message(lookup(integration_id, timeout=0.01))
    assert limited.value.error_code == "integration_rate_limited"
    assert len(shop.calls("/customers")) == 1


async def test_the_concurrency_cap_holds_calls_in_flight(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake(delay=0.1)
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url, max_concurrency=2)
        results = await asyncio.gather(
            *(integrations_on.send_message(lookup(integration_id)) for _ in range(6))
        )
    assert all(r["status"] == "delivered" for r in results)
    assert shop.max_in_flight == 2


async def test_concurrent_calls_fetch_one_token_and_reuse_it(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake(require_token=True)
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url, oauth=True)
        results = await asyncio.gather(
            *(integrations_on.send_message(lookup(integration_id)) for _ in range(10))
        )
        await integrations_on.send_message(lookup(integration_id))
    assert all(r["status"] == "delivered" for r in results)
    assert shop.tokens == ["tok-1"]


async def test_a_refused_token_is_refreshed_once_and_the_call_retried(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake(require_token=True)
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url, oauth=True)
        await integrations.send_message(lookup(integration_id))
        shop.tokens.clear()
        shop.tokens.append("not-the-cached-one")
        result = await integrations.send_message(lookup(integration_id))
    assert result["status"] == "delivered"
    assert shop.tokens == ["not-the-cached-one", "tok-2"]


async def test_a_refused_grant_marks_the_integration_until_its_credentials_change(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake(require_token=True)
    shop.refuse_grant = True
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url, oauth=True)
        with pytest.raises(NeedsReauth):
            await integrations.send_message(lookup(integration_id))
        marked = await integrations.get_integration(integration_id)
        with pytest.raises(NeedsReauth):
            await integrations.send_message(lookup(integration_id))
        token_calls = len(shop.calls("/oauth/token"))
        shop.refuse_grant = False
        await integrations.update_integration(
            integration_id, {"auth_config": {"client_secret": "rotated-secret-value"}}
        )
        healed = await integrations.send_message(lookup(integration_id))
    assert marked["status"] == "needs_reauth"
    assert token_calls == 1, "a refused grant is not retried in a loop"
    assert healed["status"] == "delivered"
    assert (await integrations.get_integration(integration_id))["status"] == "active"


async def test_needs_reauth_is_exported_as_a_metric(integrations: IntegrationService) -> None:
    shop = ShopFake(require_token=True)
    shop.refuse_grant = True
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url, oauth=True)
        with pytest.raises(NeedsReauth):
            await integrations.send_message(lookup(integration_id))
    value = integrations.metrics.registry.get_sample_value(
        "aicc_integration_needs_reauth", {"integration": integration_id}
    )
    failures: Any = integrations.metrics.registry.get_sample_value(
        "aicc_integration_requests_total",
        {
            "integration": integration_id,
            "provider": "rest",
            "method": "request",
            "outcome": "reauth",
        },
    )
    assert value == 1 and failures == 1
