"""X (Twitter) direct messages through the integration service: the user token and its
rotating refresh token, X's rate limits and errors, and the CRC and signed webhooks."""

from __future__ import annotations

import time
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
from tests.integration.fakes.x import (
    ACCESS_TOKEN,
    CLIENT_ID,
    ME,
    REFRESH_TOKEN,
    FakeX,
    crc_response,
    dm_activity,
    signed,
)
from tests.integration.support import ADMIN

USER = "2244994945"
CONSUMER_SECRET = "x-consumer-secret"


def x_config(fake: FakeX, **auth: Any) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="x_dm",
        name="X DMs",
        type=IntegrationType.SOCIAL,
        endpoint_url=fake.url,
        auth_type="oauth2",
        auth_config={
            "access_token": ACCESS_TOKEN,
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
            **auth,
        },
        provider="x",
    )


def dm(text: str = "상담원이 곧 답변드립니다", participant_id: str = USER) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="x_dm",
        message_type=MessageType.SYNC,
        payload={"method": "send_dm", "participant_id": participant_id, "text": text},
    )


async def test_dm_is_sent_with_the_users_bearer_token(integrations: IntegrationService) -> None:
    fake = FakeX()
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        result = await integrations.send_message(dm())

    (sent,) = fake.dms
    assert result["status"] == "delivered"
    assert result["data"] == {
        "dm_conversation_id": f"{USER}-{ME}",
        "dm_event_id": sent["dm_event_id"],
    }
    (request,) = fake.calls("/2/dm_conversations")
    assert request.path == f"/2/dm_conversations/with/{USER}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.json() == {"text": "상담원이 곧 답변드립니다"}
    assert fake.refreshes == []


async def test_refused_token_is_refreshed_and_later_refreshes_use_the_rotated_token(
    integrations: IntegrationService,
) -> None:
    fake = FakeX()
    fake.expire_access_tokens()
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        first = await integrations.send_message(dm("first"))
        fake.expire_access_tokens()
        second = await integrations.send_message(dm("second"))

    assert first["status"] == second["status"] == "delivered"
    assert fake.refreshes == [REFRESH_TOKEN, "x-refresh-1"]
    assert [d["token"] for d in fake.dms] == ["x-access-1", "x-access-2"]
    assert fake.current_refresh_token == "x-refresh-2"
    assert (await integrations.get_integration("x_dm"))["status"] == "active"


async def test_confidential_client_refreshes_with_basic_auth(
    integrations: IntegrationService,
) -> None:
    fake = FakeX(client_secret="x-client-secret")
    fake.expire_access_tokens()
    async with fake.running():
        await integrations.register_integration(x_config(fake, client_secret="x-client-secret"))
        result = await integrations.send_message(dm())

    assert result["status"] == "delivered"
    (token_call,) = fake.calls("/2/oauth2/token")
    assert token_call.headers["authorization"].startswith("Basic ")


async def test_spent_refresh_token_marks_the_integration_as_needing_reauth(
    integrations: IntegrationService,
) -> None:
    fake = FakeX()
    fake.expire_access_tokens()
    async with fake.running():
        await integrations.register_integration(x_config(fake, refresh_token="x-refresh-spent"))
        with pytest.raises(NeedsReauth):
            await integrations.send_message(dm())

    assert (await integrations.get_integration("x_dm"))["status"] == "needs_reauth"
    assert fake.dms == []


async def test_rate_limited_dm_is_throttled_until_x_rate_limit_reset(
    integrations: IntegrationService,
) -> None:
    fake = FakeX()
    fake.fail(fake.rate_limited(reset_in=120))
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        before = time.time()
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(dm())

    details = failed.value.details
    assert details["outcome"] == "throttled"
    assert details["provider_status"] == 429
    assert details["provider_code"] == "Too Many Requests"
    assert 115 <= details["retry_after"] <= 121 + (time.time() - before)
    assert failed.value.headers["Retry-After"] in {str(s) for s in range(115, 122)}


async def test_dm_to_a_user_who_does_not_accept_it_fails_for_good(
    integrations: IntegrationService,
) -> None:
    fake = FakeX()
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(dm(participant_id="783214"))

    details = failed.value.details
    assert (details["provider_status"], details["outcome"]) == (403, "terminal")
    assert details["provider_code"] == "Forbidden"
    assert "not permitted" in details["provider_message"]
    assert len(fake.calls("/2/dm_conversations")) == 1


@pytest.mark.parametrize(
    ("participant_id", "text", "field"),
    [("@someone", "hi", "participant_id"), (USER, "x" * 10_001, "text")],
)
async def test_bad_dm_arguments_are_refused_before_calling(
    integrations: IntegrationService, participant_id: str, text: str, field: str
) -> None:
    fake = FakeX()
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(dm(text, participant_id))

    assert refused.value.details[0]["loc"] == ["payload", field]
    assert fake.requests == []


async def test_health_names_the_authorising_user(integrations: IntegrationService) -> None:
    fake = FakeX()
    async with fake.running():
        await integrations.register_integration(x_config(fake))
        health = await integrations.integration_health("x_dm")

    assert health["status"] == "healthy"
    assert health["details"] == {"id": ME, "username": "aicc", "name": "AICC Support"}


# --- webhooks over HTTP -------------------------------------------------------------------


async def register_over_http(app: Deployment) -> None:
    response = await app.http.post(
        "/integrations",
        headers=ADMIN,
        json={
            "integration_id": "x_dm",
            "name": "X DMs",
            "type": "social",
            "provider": "twitter",
            "endpoint_url": "http://127.0.0.1:9",
            "auth_type": "oauth2",
            "auth_config": {
                "access_token": ACCESS_TOKEN,
                "refresh_token": REFRESH_TOKEN,
                "client_id": CLIENT_ID,
                "consumer_secret": CONSUMER_SECRET,
            },
        },
    )
    assert response.status_code in (200, 201), response.text


async def event_ids(app: Deployment) -> list[str]:
    response = await app.http.get("/integrations/x_dm/events", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [item["event_id"] for item in response.json()["events"]]


async def test_crc_check_answers_the_signed_response_token(integration_app: Deployment) -> None:
    await register_over_http(integration_app)
    response = await integration_app.http.get("/webhooks/x_dm", params={"crc_token": "challenge"})

    assert response.status_code == 200
    assert response.json() == {"response_token": crc_response(CONSUMER_SECRET, "challenge")}


async def test_signed_dm_event_is_stored_once(integration_app: Deployment) -> None:
    await register_over_http(integration_app)
    body = dm_activity(USER, ME, "문의드립니다", event_id="1582838421934616580")

    for _ in range(2):
        response = await integration_app.http.post(
            "/webhooks/x_dm", content=body, headers=signed(CONSUMER_SECRET, body)
        )
        assert response.status_code in (200, 202), response.text

    assert await event_ids(integration_app) == ["1582838421934616580"]


async def test_unsigned_or_forged_event_is_401_and_not_stored(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app)
    body = dm_activity(USER, ME, "hi")

    unsigned = await integration_app.http.post(
        "/webhooks/x_dm", content=body, headers={"Content-Type": "application/json"}
    )
    forged = await integration_app.http.post(
        "/webhooks/x_dm", content=body, headers=signed("guessed-secret", body)
    )

    for response in (unsigned, forged):
        assert response.status_code == 401
        assert "code" in response.json()["error"]
    assert await event_ids(integration_app) == []
