"""SYNC and ASYNC delivery through the Python API, on SQLite + memory and PostgreSQL + Redis:
results, idempotency, retries with Retry-After, dead letters, replay and discard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from aicc.core.errors import Conflict, ValidationFailed
from aicc.integration import IntegrationService
from aicc.integration.errors import ProviderFailed
from tests.integration.delivery_support import lookup, order, register_shop, settled
from tests.integration.fakes.common import Fault
from tests.integration.fakes.shop import ShopFake
from tests.integration.support import integration_settings


@asynccontextmanager
async def service_on(
    tmp_path: Path, backend: dict[str, Any], **overrides: Any
) -> AsyncIterator[IntegrationService]:
    settings = integration_settings(
        tmp_path, backend, **{"integration.backoff_base": 0.05, **overrides}
    )
    service = IntegrationService(settings=settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def test_a_sync_message_answers_with_the_providers_result(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url)
        result = await integrations_on.send_message(lookup(integration_id, "7"))
    assert result["status"] == "delivered"
    assert result["data"]["status_code"] == 200
    assert result["data"]["body"]["name"] == "홍길동"
    assert result["attempts"] == 1
    assert result["latency_ms"] > 0


async def test_a_repeated_message_id_returns_the_first_result_without_calling_again(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    message_id = str(uuid.uuid4())
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url)
        first = await integrations_on.send_message(
            order(integration_id, sync=True, message_id=message_id)
        )
        again = await integrations_on.send_message(
            order(integration_id, sync=True, message_id=message_id)
        )
    assert shop.order_posts == 1
    assert again["data"] == first["data"] and again["duplicate"] is True


async def test_a_message_id_is_not_reused_across_integrations(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    message_id = str(uuid.uuid4())
    async with shop.running() as url:
        first = await register_shop(integrations, url)
        second = await register_shop(integrations, url)
        await integrations.send_message(lookup(first, message_id=message_id))
        with pytest.raises(Conflict) as refused:
            await integrations.send_message(lookup(second, message_id=message_id))
    assert refused.value.error_code == "message_id_reused"


async def test_an_async_message_is_queued_then_delivered_with_its_idempotency_key(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url)
        queued = await integrations_on.send_message(order(integration_id))
        assert queued["status"] == "queued"
        message = await settled(integrations_on, integration_id, queued["message_id"])
    assert message["status"] == "delivered" and message["attempts"] == 1
    assert message["result"]["body"]["order_id"] == "o-1"
    assert shop.calls("/orders")[0].headers["idempotency-key"] == queued["message_id"]


async def test_an_async_retry_waits_for_the_providers_retry_after(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=429, body={"error": "slow down"}, headers={"Retry-After": "1"}))
    async with service_on(tmp_path, backend) as service, shop.running() as url:
        integration_id = await register_shop(service, url)
        queued = await service.send_message(order(integration_id))
        message = await settled(service, integration_id, queued["message_id"])
    assert message["status"] == "delivered" and message["attempts"] == 2
    first, second = shop.calls("/orders")
    assert second.at - first.at >= 0.9, "the retry came before the provider's Retry-After"
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


async def test_a_message_that_keeps_failing_becomes_a_dead_letter_that_can_be_replayed(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    shop = ShopFake()
    shop.fail(*[Fault(status=503, body={"error": "down"}) for _ in range(3)])
    async with service_on(tmp_path, backend) as service, shop.running() as url:
        integration_id = await register_shop(service, url, max_attempts=3)
        queued = await service.send_message(order(integration_id))
        dead = await settled(service, integration_id, queued["message_id"])
        assert dead["status"] == "dead" and dead["attempts"] == 3
        assert dead["error"]["code"] == "http_503"
        letters = await service.dead_letters(integration_id)
        assert [m["message_id"] for m in letters] == [queued["message_id"]]
        await service.replay_dead_letter(integration_id, queued["message_id"])
        replayed = await settled(service, integration_id, queued["message_id"])
        assert await service.dead_letters(integration_id) == []
    assert replayed["status"] == "delivered"
    assert len(shop.orders) == 1


async def test_a_refused_message_is_dead_at_once_and_can_be_discarded(
    integrations_on: IntegrationService,
) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=400, body={"error": "bad sku"}))
    async with shop.running() as url:
        integration_id = await register_shop(integrations_on, url)
        queued = await integrations_on.send_message(order(integration_id))
        dead = await settled(integrations_on, integration_id, queued["message_id"])
        assert dead["status"] == "dead" and dead["attempts"] == 1
        await integrations_on.discard_dead_letter(integration_id, queued["message_id"])
        gone = await integrations_on.get_message(integration_id, queued["message_id"])
        with pytest.raises(Conflict):
            await integrations_on.replay_dead_letter(integration_id, queued["message_id"])
    assert gone["status"] == "discarded"
    assert await integrations_on.dead_letters(integration_id) == []


async def test_a_sync_read_is_retried_once_after_a_transient_failure(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=502, body={"error": "bad gateway"}, path="/customers"))
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url)
        connector = integrations.registry.get("rest")
        request = connector.methods["request"]
        assert not request.safe
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(lookup(integration_id))
    assert failed.value.status_code == 502
    assert failed.value.details["provider_status"] == 502
    assert failed.value.details["outcome"] == "retryable"
    assert len(shop.calls("/customers")) == 1, "an unsafe method is never retried in SYNC"


async def test_a_sync_failure_is_recorded_and_repeating_its_id_raises_the_same_error(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=404, body={"error": "no such customer"}))
    message_id = str(uuid.uuid4())
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url)
        for _ in range(2):
            with pytest.raises(ProviderFailed) as failed:
                await integrations.send_message(lookup(integration_id, message_id=message_id))
            assert failed.value.details["provider_status"] == 404
    assert len(shop.calls("/customers")) == 1
    logged = await integrations.get_message(integration_id, message_id)
    assert logged["status"] == "dead" and logged["error"]["provider_status"] == 404


async def test_an_unknown_method_is_refused_with_the_providers_methods(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url)
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(
                {"integration_id": integration_id, "payload": {"method": "teleport"}}
            )
    assert refused.value.error_code == "unknown_method"
    assert refused.value.details == {"methods": ["request"]}
    assert shop.requests == []


async def test_the_message_log_masks_sensitive_fields(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url, mask_fields=["qty"])
        sent = await integrations.send_message(order(integration_id, sync=True))
        customer = await integrations.send_message(lookup(integration_id))
    logged = await integrations.get_message(integration_id, sent["message_id"])
    assert logged["payload"]["json"] == {"sku": "A-1", "qty": "***"}
    looked_up = await integrations.get_message(integration_id, customer["message_id"])
    assert looked_up["result"]["body"]["card_number"] == "***"
    assert customer["data"]["body"]["card_number"] == "4111", "the caller still gets it"


async def test_message_log_lists_newest_first_and_filters_by_status(
    integrations: IntegrationService,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        integration_id = await register_shop(integrations, url)
        ids = [
            (await integrations.send_message(lookup(integration_id)))["message_id"]
            for _ in range(3)
        ]
    listed = await integrations.list_messages(integration_id)
    assert [m["message_id"] for m in listed] == ids[::-1]
    assert await integrations.list_messages(integration_id, statuses=("dead",)) == []
