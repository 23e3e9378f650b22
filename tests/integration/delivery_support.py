"""Registering the shop stand-in and waiting for ASYNC messages in the delivery tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from tests.integration.fakes.shop import CLIENT_ID, CLIENT_SECRET


async def register_shop(
    service: IntegrationService, url: str, *, oauth: bool = False, **options: Any
) -> str:
    integration_id = f"shop-{uuid.uuid4().hex[:8]}"
    auth: dict[str, Any] = {}
    if oauth:
        auth = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": f"{url}/oauth/token",
        }
    await service.register_integration(
        IntegrationConfig(
            integration_id=integration_id,
            name="Shop",
            type=IntegrationType.CUSTOM,
            endpoint_url=url,
            auth_type="oauth2" if oauth else "none",
            auth_config=auth,
            provider="rest",
            options=options,
        )
    )
    return integration_id


def lookup(integration_id: str, customer_id: str = "42", **extra: Any) -> IntegrationMessage:
    return IntegrationMessage(
        integration_id=integration_id,
        message_type=MessageType.SYNC,
        payload={"method": "request", "path": f"/customers/{customer_id}"},
        **extra,
    )


def order(integration_id: str, *, sync: bool = False, **extra: Any) -> IntegrationMessage:
    return IntegrationMessage(
        integration_id=integration_id,
        message_type=MessageType.SYNC if sync else MessageType.ASYNC,
        payload={
            "method": "request",
            "http_method": "POST",
            "path": "/orders",
            "json": {"sku": "A-1", "qty": 1},
        },
        **extra,
    )


async def settled(
    service: IntegrationService, integration_id: str, message_id: str, timeout: float = 30
) -> dict[str, Any]:
    """The message once it is delivered, dead or discarded."""
    deadline = time.monotonic() + timeout
    while True:
        message = await service.get_message(integration_id, message_id)
        if message["status"] in ("delivered", "dead", "discarded"):
            return message
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.05)
