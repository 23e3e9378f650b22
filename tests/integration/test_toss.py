"""Toss Payments through the integration service: confirm, cancel and look-up against a Toss
stand-in (Basic auth with the trailing colon, Idempotency-Key replay, the payment state machine),
Toss's error codes, and payment webhooks confirmed by fetching the payment back."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from aicc.core.errors import ValidationFailed
from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from aicc.integration.errors import NeedsReauth, ProviderFailed
from tests.integration.conftest import Deployment
from tests.integration.delivery_support import settled
from tests.integration.fakes.common import Fault
from tests.integration.fakes.toss import TEST_SECRET_KEY, FakeToss
from tests.integration.support import ADMIN, integration_settings

WEBHOOK_SECRET = "toss-security-key-for-payouts"
BASIC = "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()


def toss_config(fake: FakeToss, integration_id: str = "pay_toss", **auth: Any) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id=integration_id,
        name="Toss",
        type=IntegrationType.PAYMENT,
        endpoint_url=fake.url,
        auth_type="basic",
        auth_config={"secret_key": TEST_SECRET_KEY, "webhook_secret": WEBHOOK_SECRET, **auth},
        provider="toss",
    )


def message(method: str, *, sync: bool = True, **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="pay_toss",
        message_type=MessageType.SYNC if sync else MessageType.ASYNC,
        payload={"method": method, **payload},
    )


def confirm(payment: dict[str, Any], amount: int | None = None, **extra: Any) -> IntegrationMessage:
    return message(
        "confirm_payment",
        payment_key=payment["paymentKey"],
        order_id=payment["orderId"],
        amount=payment["totalAmount"] if amount is None else amount,
        **extra,
    )


async def test_confirm_sends_basic_auth_with_the_colon_and_the_message_id_as_idempotency_key(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.create_payment(15000)
        sent = confirm(payment)
        result = await integrations.send_message(sent)

    assert result["status"] == "delivered"
    data = result["data"]
    assert data["payment_key"] == payment["paymentKey"]
    assert data["order_id"] == payment["orderId"]
    assert (data["status"], data["amount"], data["balance_amount"]) == ("DONE", 15000, 15000)
    assert data["already_processed"] is False
    assert data["provider_data"]["approvedAt"] == data["approved_at"] is not None
    (request,) = fake.calls("/v1/payments/confirm", method="POST")
    assert request.headers["authorization"] == BASIC
    assert request.headers["idempotency-key"] == sent.message_id
    assert request.json() == {
        "paymentKey": payment["paymentKey"],
        "orderId": payment["orderId"],
        "amount": 15000,
    }


async def test_repeating_a_confirm_message_id_answers_the_first_result_with_one_confirm(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        sent = confirm(fake.create_payment(9900))
        first = await integrations.send_message(sent)
        again = await integrations.send_message(sent)

    assert again["data"] == first["data"]
    assert again["duplicate"] is True
    assert len(fake.calls("/confirm")) == 1
    assert fake.state_changes == 1


async def test_a_sync_confirm_cut_mid_answer_fails_without_a_second_attempt(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.create_payment(5000)
        fake.fail(Fault(cut=True, path="/confirm"))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(confirm(payment))

    assert failed.value.details["outcome"] == "retryable"
    assert len(fake.calls("/confirm")) == 1  # a charge is never retried inside a SYNC call


@asynccontextmanager
async def quick_retries(tmp_path: Path) -> AsyncIterator[IntegrationService]:
    settings = integration_settings(tmp_path, {}, **{"integration.backoff_base": 0.05})
    service = IntegrationService(settings=settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def test_an_async_confirm_whose_answer_was_lost_retries_with_the_same_key_and_charges_once(
    tmp_path: Path,
) -> None:
    fake = FakeToss()
    async with quick_retries(tmp_path) as service, fake.running():
        await service.register_integration(toss_config(fake))
        payment = fake.create_payment(30000)
        fake.lose_answers = 1  # Toss approves, then the answer is lost (500)
        sent = confirm(payment, sync=False)
        await service.send_message(sent)
        done = await settled(service, "pay_toss", sent.message_id)

    assert done["status"] == "delivered", done
    assert done["attempts"] == 2
    keys = [r.headers["idempotency-key"] for r in fake.calls("/confirm")]
    assert keys == [sent.message_id, sent.message_id]
    assert fake.replays == 1
    assert fake.state_changes == 1
    assert done["result"]["status"] == "DONE"


async def test_a_payment_confirmed_before_is_answered_as_success_after_reading_it_back(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(15000)
        result = await integrations.send_message(confirm(payment))

    assert result["data"]["already_processed"] is True
    assert result["data"]["status"] == "DONE"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/payments/confirm"),
        ("GET", f"/v1/payments/{payment['paymentKey']}"),
    ]


async def test_already_processed_with_another_amount_stays_a_failure(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(15000)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(confirm(payment, amount=1500))

    assert failed.value.details["provider_code"] == "ALREADY_PROCESSED_PAYMENT"
    assert failed.value.details["outcome"] == "terminal"


async def test_a_wrong_amount_is_a_terminal_failure_with_the_toss_code(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.create_payment(15000)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(confirm(payment, amount=10000))

    details = failed.value.details
    assert failed.value.status_code == 502
    assert (details["provider_code"], details["provider_status"]) == ("INVALID_REQUEST", 400)
    assert details["outcome"] == "terminal"
    assert "금액" in details["provider_message"]
    assert fake.payments[payment["paymentKey"]]["status"] == "READY"


async def test_provider_error_is_retryable_and_a_read_is_retried_once(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    temporary = {"code": "PROVIDER_ERROR", "message": "일시적인 오류가 발생했습니다."}
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(7000)
        fake.fail(Fault(status=400, body=temporary, path="/confirm"))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(confirm(fake.create_payment(7000)))
        fake.fail(Fault(status=400, body=temporary))
        read = await integrations.send_message(
            message("get_payment", payment_key=payment["paymentKey"])
        )

    assert failed.value.details["provider_code"] == "PROVIDER_ERROR"
    assert failed.value.details["outcome"] == "retryable"
    assert read["attempts"] == 2
    assert read["data"]["status"] == "DONE"


async def test_cancel_refunds_part_then_the_rest_each_with_an_idempotency_key(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(20000)
        key = payment["paymentKey"]
        part = message(
            "cancel_payment", payment_key=key, cancel_reason="부분 환불", cancel_amount=5000
        )
        partial = await integrations.send_message(part)
        rest = await integrations.send_message(
            message("cancel_payment", payment_key=key, cancel_reason="전체 환불")
        )

    assert partial["data"]["status"] == "PARTIAL_CANCELED"
    assert (partial["data"]["balance_amount"], partial["data"]["canceled_amount"]) == (15000, 5000)
    assert rest["data"]["status"] == "CANCELED"
    assert (rest["data"]["balance_amount"], rest["data"]["canceled_amount"]) == (0, 20000)
    first, second = fake.calls(f"/v1/payments/{key}/cancel", method="POST")
    assert first.json() == {"cancelReason": "부분 환불", "cancelAmount": 5000}
    assert second.json() == {"cancelReason": "전체 환불"}
    assert first.headers["idempotency-key"] == part.message_id
    assert second.headers["idempotency-key"] != part.message_id


async def test_cancelling_more_than_the_balance_is_refused_with_the_toss_code(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(1000)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message(
                    "cancel_payment",
                    payment_key=payment["paymentKey"],
                    cancel_reason="과다 환불",
                    cancel_amount=1001,
                )
            )

    assert failed.value.details["provider_code"] == "NOT_CANCELABLE_AMOUNT"
    assert fake.payments[payment["paymentKey"]]["balanceAmount"] == 1000


async def test_get_payment_reads_the_payment_without_an_idempotency_key(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        payment = fake.create_payment(4500)
        result = await integrations.send_message(
            message("get_payment", payment_key=payment["paymentKey"])
        )
        with pytest.raises(ProviderFailed) as missing:
            await integrations.send_message(message("get_payment", payment_key="no-such-key"))

    assert result["data"]["status"] == "READY"
    assert result["data"]["provider_data"]["orderId"] == payment["orderId"]
    request = fake.calls(f"/v1/payments/{payment['paymentKey']}", method="GET")[0]
    assert "idempotency-key" not in request.headers
    assert missing.value.details["provider_code"] == "NOT_FOUND_PAYMENT"


async def test_a_refused_secret_key_needs_reauth_and_health_says_so(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake, secret_key="test_sk_revoked"))
        with pytest.raises(NeedsReauth):
            await integrations.send_message(confirm(fake.create_payment(100)))
        health = await integrations.integration_health("pay_toss")

    assert health["status"] == "needs_reauth"
    assert health["error"]["code"] == "UNAUTHORIZED_KEY"


async def test_health_reads_a_payment_that_cannot_exist_and_is_healthy(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        health = await integrations.integration_health("pay_toss")

    assert health["status"] == "healthy"
    (probe,) = fake.requests
    assert probe.method == "GET" and probe.path.startswith("/v1/payments/")
    assert probe.headers["authorization"] == BASIC


async def test_a_non_positive_amount_is_refused_before_calling_toss(
    integrations: IntegrationService,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integrations.register_integration(toss_config(fake))
        with pytest.raises(ValidationFailed):
            await integrations.send_message(confirm(fake.create_payment(100), amount=0))

    assert fake.requests == []


async def test_the_provider_is_inferred_from_the_toss_host(
    integrations: IntegrationService,
) -> None:
    registered = await integrations.register_integration(
        IntegrationConfig(
            integration_id="payments_main",
            name="Payments",
            type=IntegrationType.PAYMENT,
            endpoint_url="https://api.tosspayments.com",
            auth_config={"secret_key": TEST_SECRET_KEY},
        )
    )

    assert (registered["provider"], registered["auth_type"]) == ("toss", "basic")


# --- webhooks over HTTP -------------------------------------------------------------------


async def event_ids(app: Deployment, integration_id: str) -> list[str]:
    response = await app.http.get(f"/integrations/{integration_id}/events", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [item["event_id"] for item in response.json()["events"]]


async def test_a_payment_webhook_is_stored_once_from_the_payment_toss_returns(
    integration_app: Deployment,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integration_app.service.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(12000)
        body = fake.webhook_body(payment["paymentKey"])
        for _ in range(2):
            response = await integration_app.http.post("/webhooks/pay_toss", content=body)
            assert response.status_code in (200, 202), response.text
        events = (
            await integration_app.http.get("/integrations/pay_toss/events", headers=ADMIN)
        ).json()["events"]

    (event,) = events
    assert event["event_id"] == (f"{payment['paymentKey']}:DONE:{payment['lastTransactionKey']}")
    assert event["event_type"] == "PAYMENT_STATUS_CHANGED"
    assert event["data"]["status"] == "DONE"
    assert event["data"]["amount"] == 12000
    assert len(fake.calls(f"/v1/payments/{payment['paymentKey']}", method="GET")) == 2


async def test_a_forged_or_altered_payment_webhook_is_refused(
    integration_app: Deployment,
) -> None:
    fake = FakeToss()
    async with fake.running():
        await integration_app.service.register_integration(toss_config(fake))
        payment = fake.confirmed_payment(12000)
        forged = fake.webhook_body("tgen_never_issued", status="DONE", totalAmount=1)
        altered = fake.webhook_body(payment["paymentKey"], totalAmount=999999)
        answers = [
            await integration_app.http.post("/webhooks/pay_toss", content=body)
            for body in (forged, altered, b"not json")
        ]

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert await event_ids(integration_app, "pay_toss") == []


async def test_a_signed_payout_webhook_needs_a_matching_signature(
    integration_app: Deployment,
) -> None:
    fake = FakeToss()
    body = orjson.dumps(
        {
            "eventType": "PAYOUT_STATUS_CHANGED",
            "createdAt": "2026-11-30T10:00:00+09:00",
            "data": {"payoutKey": "FPA_1", "status": "COMPLETED"},
        }
    )
    sent_at = "2026-11-30T10:00:01+09:00"
    async with fake.running():
        await integration_app.service.register_integration(toss_config(fake))
        wrong = await integration_app.http.post(
            "/webhooks/pay_toss", content=body, headers=fake.signed_headers("other", body, sent_at)
        )
        unsigned = await integration_app.http.post("/webhooks/pay_toss", content=body)
        good = await integration_app.http.post(
            "/webhooks/pay_toss",
            content=body,
            headers=fake.signed_headers(WEBHOOK_SECRET, body, sent_at),
        )

    assert (wrong.status_code, unsigned.status_code) == (401, 401)
    assert good.status_code in (200, 202), good.text
    assert await event_ids(integration_app, "pay_toss") == ["PAYOUT_STATUS_CHANGED:FPA_1:COMPLETED"]
    assert fake.requests == []
