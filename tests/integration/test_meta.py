"""Facebook Messenger and Instagram through the integration service: the Send API against a
Graph stand-in, Graph's error codes, and Meta's webhook handshake and signatures."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

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
from tests.integration.fakes.meta import (
    APP_SECRET,
    PAGE_TOKEN,
    FakeGraph,
    message_item,
    signed,
    webhook_body,
)
from tests.integration.support import ADMIN

VERIFY_TOKEN = "verify-me-please"
PAGE_ID = "1122334455"


def page_config(
    fake: FakeGraph, integration_id: str = "fb_page", provider: str = "facebook", **extra: Any
) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id=integration_id,
        name="Messenger",
        type=IntegrationType.SOCIAL,
        endpoint_url=fake.url,
        auth_type="page_token",
        auth_config={
            "page_access_token": PAGE_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            **extra,
        },
        provider=provider,
    )


def message(integration_id: str = "fb_page", **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id=integration_id,
        message_type=MessageType.SYNC,
        payload={"method": "send_message", **payload},
    )


async def test_messenger_sends_text_with_page_token_and_appsecret_proof(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        result = await integrations.send_message(
            message(recipient_id="PSID-1", text="상담원 연결되었습니다")
        )

    (sent,) = fake.messages
    assert result["status"] == "delivered"
    assert result["attempts"] == 1
    assert result["data"] == {"recipient_id": "PSID-1", "message_id": sent["message_id"]}
    (request,) = fake.calls("/messages")
    assert request.path == "/v21.0/me/messages"
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    proof = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert request.query == f"appsecret_proof={proof}"
    assert request.json() == {
        "recipient": {"id": "PSID-1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "상담원 연결되었습니다"},
    }


async def test_messenger_human_agent_tag_is_sent_as_message_tag(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    async with fake.running():
        await integrations.register_integration(page_config(fake, page_id=PAGE_ID))
        await integrations.send_message(
            message(recipient_id="PSID-1", text="다시 연락드립니다", tag="HUMAN_AGENT")
        )

    (request,) = fake.calls("/messages")
    assert request.path == f"/v21.0/{PAGE_ID}/messages"
    assert request.json()["messaging_type"] == "MESSAGE_TAG"
    assert request.json()["tag"] == "HUMAN_AGENT"


async def test_message_tag_without_tag_is_refused_before_calling(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(
                message(recipient_id="PSID-1", text="hi", messaging_type="MESSAGE_TAG")
            )

    assert refused.value.details[0]["loc"] == ["payload", "tag"]
    assert fake.calls("/messages") == []


async def test_messenger_text_over_2000_characters_is_refused_without_calling(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(message(recipient_id="PSID-1", text="가" * 2001))

    assert refused.value.status_code == 422
    assert refused.value.details[0]["loc"] == ["payload", "text"]
    assert fake.calls("/messages") == []


async def test_instagram_limits_text_to_1000_bytes_of_utf8(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph("instagram")
    async with fake.running():
        await integrations.register_integration(
            page_config(fake, "ig_account", "instagram", page_id=PAGE_ID)
        )
        with pytest.raises(ValidationFailed):
            await integrations.send_message(
                message("ig_account", recipient_id="PSID-1", text="가" * 334)
            )
        result = await integrations.send_message(
            message("ig_account", recipient_id="PSID-1", text="가" * 333)
        )

    assert result["status"] == "delivered"
    (request,) = fake.calls("/messages")
    assert request.path == f"/v21.0/{PAGE_ID}/messages"
    assert fake.messages[0]["text"] == "가" * 333


async def test_expired_page_token_marks_the_integration_as_needing_reauth(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    fake.expire_token()
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(NeedsReauth) as refused:
            await integrations.send_message(message(recipient_id="PSID-1", text="hi"))

    assert refused.value.details["provider_code"] == "190"
    assert (await integrations.get_integration("fb_page"))["status"] == "needs_reauth"
    assert len(fake.calls("/messages")) == 1


async def test_graph_rate_limit_613_is_throttled_for_the_time_meta_estimates(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    fake.fail(fake.throttle(613, minutes=5))
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message(recipient_id="PSID-1", text="hi"))

    details = failed.value.details
    assert failed.value.status_code == 502
    assert details["provider_code"] == "613"
    assert details["provider_status"] == 400
    assert details["outcome"] == "throttled"
    assert details["retry_after"] == 300
    assert "rate limit" in details["provider_message"]
    assert fake.messages == []


async def test_application_limit_without_estimate_waits_a_minute(
    integrations: IntegrationService,
) -> None:
    fake = FakeGraph()
    fake.fail(fake.throttle(4, minutes=0, status=403))
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message(recipient_id="PSID-1", text="hi"))

    assert failed.value.details["outcome"] == "throttled"
    assert failed.value.details["provider_status"] == 403
    assert failed.value.details["retry_after"] == 60


@pytest.mark.parametrize(("recipient", "code"), [("PSID-gone", "551"), ("PSID-unknown", "100")])
async def test_unreachable_recipient_fails_once_without_retry(
    integrations: IntegrationService, recipient: str, code: str
) -> None:
    fake = FakeGraph()
    fake.unavailable.add("PSID-gone")
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message(recipient_id=recipient, text="hi"))

    assert failed.value.details["provider_code"] == code
    assert failed.value.details["outcome"] == "terminal"
    assert len(fake.calls("/messages")) == 1


async def test_health_names_the_page(integrations: IntegrationService) -> None:
    fake = FakeGraph()
    async with fake.running():
        await integrations.register_integration(page_config(fake))
        health = await integrations.integration_health("fb_page")

    assert health["status"] == "healthy"
    assert health["details"] == {"id": PAGE_ID, "name": "AICC Page"}
    (request,) = fake.calls("/v21.0/me", method="GET")
    assert "fields=id%2Cname" in request.query


# --- webhooks over HTTP -------------------------------------------------------------------


async def register_over_http(app: Deployment, integration_id: str, provider: str) -> None:
    response = await app.http.post(
        "/integrations",
        headers=ADMIN,
        json={
            "integration_id": integration_id,
            "name": "Meta page",
            "type": "social",
            "provider": provider,
            "endpoint_url": "http://127.0.0.1:9",
            "auth_type": "page_token",
            "auth_config": {
                "page_access_token": PAGE_TOKEN,
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
            },
        },
    )
    assert response.status_code in (200, 201), response.text


async def event_ids(app: Deployment, integration_id: str) -> list[str]:
    response = await app.http.get(f"/integrations/{integration_id}/events", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [item["event_id"] for item in response.json()["events"]]


async def test_meta_subscription_handshake_echoes_the_challenge(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app, "fb_page", "facebook")
    response = await integration_app.http.get(
        "/webhooks/fb_page",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "123"},
    )
    assert response.status_code == 200
    assert response.text == "123"


async def test_meta_handshake_with_a_wrong_verify_token_is_403(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app, "fb_page", "facebook")
    response = await integration_app.http.get(
        "/webhooks/fb_page",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "123"},
    )
    assert response.status_code == 403
    assert "123" not in response.text


@pytest.mark.parametrize(("provider", "obj"), [("facebook", "page"), ("instagram", "instagram")])
async def test_signed_delivery_is_stored_once_even_when_meta_sends_it_twice(
    integration_app: Deployment, provider: str, obj: str
) -> None:
    await register_over_http(integration_app, "meta_hook", provider)
    read = {
        "sender": {"id": "PSID-1"},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1700000000001,
        "read": {"watermark": 1700000000000},
    }
    body = webhook_body(
        obj, PAGE_ID, message_item("PSID-1", PAGE_ID, "안녕하세요", mid="m_1"), read
    )

    for _ in range(2):
        response = await integration_app.http.post(
            "/webhooks/meta_hook", content=body, headers=signed(APP_SECRET, body)
        )
        assert response.status_code in (200, 202), response.text

    assert sorted(await event_ids(integration_app, "meta_hook")) == [
        f"{PAGE_ID}:1700000000001:PSID-1:read",
        "m_1",
    ]


async def test_delivery_with_a_bad_signature_is_401_and_not_stored(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app, "fb_page", "facebook")
    body = webhook_body("page", PAGE_ID, message_item("PSID-1", PAGE_ID, "hi", mid="m_forged"))

    forged = await integration_app.http.post(
        "/webhooks/fb_page", content=body, headers=signed("not-the-app-secret", body)
    )
    unsigned = await integration_app.http.post(
        "/webhooks/fb_page", content=body, headers={"Content-Type": "application/json"}
    )

    for response in (forged, unsigned):
        assert response.status_code == 401
        assert "code" in response.json()["error"]
    assert await event_ids(integration_app, "fb_page") == []
