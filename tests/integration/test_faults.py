"""Faults on the wire through a real connector (Salesforce): a provider slower than the SYNC
deadline, and a connection cut in the middle of an answer."""

from __future__ import annotations

import time

import pytest

from aicc.integration import IntegrationService
from aicc.integration.errors import ProviderFailed
from tests.integration.fakes.common import Fault
from tests.integration.fakes.salesforce import ADA, SalesforceFake
from tests.integration.test_salesforce import config, message


async def test_a_provider_slower_than_the_deadline_is_a_timeout_within_it(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        await integrations.send_message(message("get_customer_info", customer_id=ADA))
        fake.fail(Fault(delay=3.0, path="/sobjects/Contact/"))
        started = time.monotonic()
        slow = message("get_customer_info", customer_id=ADA)
        slow = slow.model_copy(update={"timeout": 0.5})
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(slow)
        elapsed = time.monotonic() - started
    assert failed.value.error_code == "provider_timeout"
    assert failed.value.details["provider_code"] == "timeout"
    assert elapsed < 1.5, "the deadline covers the whole call"


async def test_a_read_cut_mid_answer_is_retried_once_and_answers(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        fake.fail(Fault(cut=True, path="/sobjects/Contact/"))
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))
    assert result["status"] == "delivered" and result["attempts"] == 2
    assert result["data"]["id"] == ADA
    assert len(fake.calls("/sobjects/Contact/")) == 2


async def test_a_write_cut_mid_answer_is_not_repeated(integrations: IntegrationService) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        fake.fail(Fault(cut=True, path="/sobjects/Task"))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message(
                    "log_interaction",
                    customer_id=ADA,
                    subject="Call",
                    description="Asked about an order",
                    direction="inbound",
                    duration_seconds=60,
                )
            )
    assert failed.value.details["provider_code"] == "network_error"
    assert len(fake.calls("/sobjects/Task")) == 1
