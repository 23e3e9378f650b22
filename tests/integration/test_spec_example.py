"""The spec's example, as written (import path aside), against a Salesforce stand-in: only
the token URL points at the stand-in, whose token answer names its own ``instance_url``, as
Salesforce's does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from tests.integration.fakes import salesforce
from tests.integration.fakes.salesforce import SalesforceFake


async def test_the_spec_example_runs_as_written(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(salesforce, "CLIENT_ID", "your_client_id")
    monkeypatch.setattr(salesforce, "CLIENT_SECRET", "your_client_secret")
    fake = SalesforceFake()
    fake.contacts["12345"] = {**fake.contacts[salesforce.ADA], "Id": "12345"}
    config = {
        "database_url": database_url,
        "data_dir": str(tmp_path / "var"),
        "http.allow_private_networks": True,
    }
    async with fake.running() as stand_in:
        crm_config = IntegrationConfig(
            integration_id="crm_salesforce",
            name="Salesforce CRM",
            type=IntegrationType.CRM,
            endpoint_url="https://api.salesforce.com/v1",
            auth_type="oauth2",
            auth_config={
                "client_id": "your_client_id",
                "client_secret": "your_client_secret",
                "token_url": f"{stand_in}/services/oauth2/token",
            },
        )

        integration_service = IntegrationService(config)
        await integration_service.register_integration(crm_config)

        message = IntegrationMessage(
            message_id=str(uuid.uuid4()),
            integration_id="crm_salesforce",
            message_type=MessageType.SYNC,
            payload={"method": "get_customer_info", "customer_id": "12345"},
        )

        try:
            result = await integration_service.send_message(message)
        finally:
            await integration_service.stop()
    assert result["status"] == "delivered" and result["attempts"] == 1
    assert result["data"]["id"] == "12345"
    assert result["data"]["name"] == "Ada Lovelace"
    assert result["data"]["email"] == "ada@example.com"
    assert fake.calls("/sobjects/Contact/12345")[0].headers["authorization"].startswith("Bearer ")
