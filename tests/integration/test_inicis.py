"""KG Inicis INIAPI through the integration service: signed form refunds (v1), partial refunds
with confirmPrice, the v2 JSON inquiry, and Inicis's result codes, against a stand-in that
recomputes every hashData."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import pytest

from aicc.core.errors import ValidationFailed
from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from aicc.integration.errors import ProviderFailed
from tests.integration.fakes.common import Fault, Recorded
from tests.integration.fakes.inicis import TEST_API_KEY, TEST_MID, FakeInicis

KST = timezone(timedelta(hours=9))


def inicis_config(fake: FakeInicis, provider: str = "inicis", **auth: Any) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="pay_inicis",
        name="Inicis",
        type=IntegrationType.PAYMENT,
        endpoint_url=fake.url,
        auth_type="api_key",
        auth_config={"api_key": TEST_API_KEY, "mid": TEST_MID, **auth},
        provider=provider,
    )


def message(method: str, **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="pay_inicis",
        message_type=MessageType.SYNC,
        payload={"method": method, **payload},
    )


def form(request: Recorded) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


async def test_refund_posts_a_signed_form_with_a_korean_timestamp(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(15000)
        result = await integrations.send_message(
            message("refund", tid=approval.tid, msg="고객 요청 환불")
        )

    data = result["data"]
    assert (data["tid"], data["result_code"], data["already_refunded"]) == (
        approval.tid,
        "00",
        False,
    )
    assert approval.status == "CANCEL"
    (request,) = fake.calls("/api/v1/refund", method="POST")
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    sent = form(request)
    assert {k: sent[k] for k in ("type", "paymethod", "mid", "tid", "clientIp", "msg")} == {
        "type": "Refund",
        "paymethod": "Card",
        "mid": TEST_MID,
        "tid": approval.tid,
        "clientIp": "127.0.0.1",
        "msg": "고객 요청 환불",
    }
    stamp = datetime.strptime(sent["timestamp"], "%Y%m%d%H%M%S").replace(tzinfo=KST)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    plain = TEST_API_KEY + "Refund" + "Card" + sent["timestamp"] + "127.0.0.1" + TEST_MID
    assert sent["hashData"] == sha512(plain + approval.tid)


async def test_partial_refund_signs_price_and_confirm_price(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake, client_ip="203.0.113.7"))
        approval = fake.approve(20000)
        result = await integrations.send_message(
            message("partial_refund", tid=approval.tid, price=5000, confirm_price=15000)
        )

    data = result["data"]
    assert (data["refunded_amount"], data["remaining_amount"]) == (5000, 15000)
    assert data["partial_tid"] and data["partial_tid"] != approval.tid
    assert (approval.status, approval.remaining) == ("PART_CANCEL", 15000)
    sent = form(fake.calls("/api/v1/refund")[0])
    assert (sent["type"], sent["price"], sent["confirmPrice"]) == ("PartialRefund", "5000", "15000")
    assert sent["clientIp"] == "203.0.113.7"
    plain = (
        TEST_API_KEY
        + "PartialRefund"
        + "Card"
        + sent["timestamp"]
        + "203.0.113.7"
        + TEST_MID
        + approval.tid
        + "5000"
        + "15000"
    )
    assert sent["hashData"] == sha512(plain)


async def test_a_repeated_partial_refund_is_refused_because_confirm_price_no_longer_matches(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(20000)
        args = {"tid": approval.tid, "price": 5000, "confirm_price": 15000}
        await integrations.send_message(message("partial_refund", **args))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("partial_refund", **args))

    assert failed.value.details["provider_code"] == "01"
    assert "confirmPrice" in failed.value.details["provider_message"]
    assert fake.refunds == 1
    assert approval.remaining == 15000


async def test_a_second_refund_of_a_tid_is_done_once_and_answered_after_an_inquiry(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(8000)
        await integrations.send_message(message("refund", tid=approval.tid))
        again = await integrations.send_message(message("refund", tid=approval.tid))

    assert again["status"] == "delivered"
    assert again["data"]["already_refunded"] is True
    assert again["data"]["provider_data"]["transactionStatus"] == "CANCEL"
    assert [r.path for r in fake.requests] == ["/api/v1/refund", "/api/v1/refund", "/v2/pg/inquiry"]
    assert fake.refunds == 1


async def test_a_wrong_api_key_fails_the_hash_check_as_a_provider_failure(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake, api_key="NotTheIniapiKey1"))
        approval = fake.approve(1000)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("refund", tid=approval.tid))

    details = failed.value.details
    assert (details["provider_code"], details["provider_message"]) == ("ERR205", "hashData 불일치")
    assert details["outcome"] == "terminal"
    assert approval.status == "APPROVAL"


async def test_a_refund_naming_another_paymethod_fails_the_hash_check(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(1000, paymethod="Card")
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("refund", tid=approval.tid, paymethod="HPP"))

    assert failed.value.details["provider_code"] == "ERR205"


async def test_an_unknown_tid_is_a_terminal_failure_with_the_inicis_result_code(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message("refund", tid="StdpayCARDINIpayTest0000000000000000000")
            )

    details = failed.value.details
    assert (details["provider_code"], details["provider_message"]) == ("01", "해당거래 없음")
    assert details["outcome"] == "terminal"


async def test_get_transaction_uses_the_v2_json_inquiry_by_tid_or_oid(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(33000)
        by_tid = await integrations.send_message(message("get_transaction", tid=approval.tid))
        by_oid = await integrations.send_message(message("get_transaction", oid=approval.oid))

    for result in (by_tid, by_oid):
        data = result["data"]
        assert (data["tid"], data["oid"], data["status"]) == (
            approval.tid,
            approval.oid,
            "APPROVAL",
        )
        assert (data["amount"], data["paymethod"]) == (33000, "Card")
    first, second = fake.calls("/v2/pg/inquiry", method="POST")
    assert first.headers["content-type"].startswith("application/json")
    body = first.json()
    assert (body["mid"], body["type"], body["data"]) == (TEST_MID, "inquiry", {"tid": approval.tid})
    data_json = json.dumps({"tid": approval.tid}, separators=(",", ":"))
    assert body["hashData"] == sha512(
        TEST_API_KEY + TEST_MID + "inquiry" + body["timestamp"] + data_json
    )
    assert second.json()["data"] == {"oid": approval.oid}


async def test_get_transaction_needs_a_tid_or_an_oid(integrations: IntegrationService) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        with pytest.raises(ValidationFailed):
            await integrations.send_message(message("get_transaction"))

    assert fake.requests == []


async def test_a_5xx_is_retryable_and_an_inquiry_is_retried_once(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        approval = fake.approve(1000)
        fake.fail(Fault(status=502, body=b"Bad Gateway", path="/api/v1/refund"))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("refund", tid=approval.tid))
        fake.fail(Fault(status=503, body=b"Service Unavailable", path="/v2/pg/inquiry"))
        read = await integrations.send_message(message("get_transaction", tid=approval.tid))

    assert failed.value.details["outcome"] == "retryable"
    assert len(fake.calls("/api/v1/refund")) == 1  # a refund is never retried inside SYNC
    assert read["attempts"] == 2
    assert read["data"]["status"] == "APPROVAL"


async def test_health_inquires_a_tid_that_cannot_exist(integrations: IntegrationService) -> None:
    fake = FakeInicis()
    async with fake.running():
        await integrations.register_integration(inicis_config(fake))
        healthy = await integrations.integration_health("pay_inicis")
        await integrations.update_integration("pay_inicis", {"auth_config": {"api_key": "Wrong"}})
        refused = await integrations.integration_health("pay_inicis")

    assert healthy["status"] == "healthy"
    assert [r.path for r in fake.requests] == ["/v2/pg/inquiry", "/v2/pg/inquiry"]
    assert fake.approvals == {}
    assert refused["status"] == "needs_reauth"
    assert refused["error"]["code"] == "ERR205"


async def test_the_kg_inicis_alias_registers_the_inicis_connector(
    integrations: IntegrationService,
) -> None:
    fake = FakeInicis()
    async with fake.running():
        config = inicis_config(fake, provider="kg_inicis")
        registered = await integrations.register_integration(config)

    assert registered["provider"] == "inicis"
    assert registered["auth_config"]["api_key"] != TEST_API_KEY
    assert registered["auth_config"]["mid"] == TEST_MID
