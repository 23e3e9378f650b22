"""HubSpot through the integration service: private-app and OAuth tokens, v3 contacts (read,
search with cursor paging, update), notes and tickets, HubSpot's 429 policies, and v3
webhook signatures."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import pytest

from aicc.integration import (
    IntegrationConfig,
    IntegrationMessage,
    IntegrationService,
    IntegrationType,
    MessageType,
)
from aicc.integration.errors import NeedsReauth, ProviderFailed
from tests.integration.conftest import Deployment
from tests.integration.fakes.hubspot import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    OBRIEN,
    PRIVATE_APP_TOKEN,
    REFRESH_TOKEN,
    SHARED_PHONE,
    HubSpotFake,
    contact_events,
    signed_headers,
)
from tests.integration.support import ADMIN

PROPERTIES = ["firstname", "lastname", "email", "phone", "mobilephone"]


def private_app(fake: HubSpotFake, token: str = PRIVATE_APP_TOKEN) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="crm_hubspot",
        name="HubSpot CRM",
        type=IntegrationType.CRM,
        endpoint_url=fake.url,
        auth_type="bearer",
        auth_config={"access_token": token},
    )


def oauth_app(fake: HubSpotFake) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="crm_hubspot",
        name="HubSpot CRM",
        type=IntegrationType.CRM,
        endpoint_url=fake.url,
        provider="hubspot",
        auth_type="oauth2",
        auth_config={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "token_url": f"{fake.url}/oauth/v1/token",
        },
    )


def message(method: str, **args: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="crm_hubspot",
        message_type=MessageType.SYNC,
        payload={"method": method, **args},
    )


async def test_get_customer_info_with_a_private_app_token(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert (await integrations.get_integration("crm_hubspot"))["provider"] == "hubspot"
    data = result["data"]
    assert {k: data[k] for k in ("id", "name", "email", "phone")} == {
        "id": ADA,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550101",
    }
    assert data["provider_data"]["properties"]["hs_object_id"] == ADA
    (read,) = fake.calls("/crm/v3/objects/contacts/")
    assert (read.method, read.path) == ("GET", f"/crm/v3/objects/contacts/{ADA}")
    assert parse_qs(read.query) == {"properties": [",".join(PROPERTIES)]}
    assert read.headers["authorization"] == f"Bearer {PRIVATE_APP_TOKEN}"
    assert fake.calls("/oauth/v1/token") == []


async def test_search_by_email_sends_an_eq_filter(integrations: IntegrationService) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(
            message("search_customer", email="o'brien@example.com")
        )

    assert result["data"]["total"] == 1
    (found,) = result["data"]["customers"]
    assert (found["id"], found["name"]) == (OBRIEN, "Brian O'Brien")
    (search,) = fake.calls("/search", method="POST")
    assert search.path == "/crm/v3/objects/contacts/search"
    assert search.json() == {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "email", "operator": "EQ", "value": "o'brien@example.com"}
                ]
            }
        ],
        "properties": PROPERTIES,
        "limit": 20,
    }


async def test_search_follows_the_paging_cursor(integrations: IntegrationService) -> None:
    fake = HubSpotFake(page_size=2)
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(message("search_customer", phone=SHARED_PHONE))

    assert result["data"]["total"] == 3
    assert [c["id"] for c in result["data"]["customers"]] == ["103", "104", "105"]
    first, second = fake.calls("/search")
    assert "after" not in first.json()
    assert second.json()["after"] == "2"
    assert second.json()["limit"] == 18


async def test_log_interaction_creates_a_note_associated_with_the_contact(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    before = int(time.time() * 1000)
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(
            message(
                "log_interaction",
                customer_id=ADA,
                subject="Billing <question>",
                description="Asked about the invoice",
                direction="outbound",
                duration_seconds=61,
                recording_id="rec-42",
            )
        )

    ((note_id, note),) = fake.notes.items()
    assert result["data"]["id"] == note_id
    assert note["associations"] == [
        {
            "to": {"id": ADA},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    props = note["properties"]
    assert before <= int(props["hs_timestamp"]) <= int(time.time() * 1000)
    assert props["hs_note_body"] == (
        "<p>Billing &lt;question&gt;</p><p>Asked about the invoice</p>"
        "<p>Outbound call, 61 s, recording rec-42</p>"
    )


async def test_update_customer_patches_the_properties(integrations: IntegrationService) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(
            message("update_customer", customer_id=ADA, fields={"jobtitle": "CTO"})
        )

    assert result["data"] == {"id": ADA, "updated": True}
    (patch,) = fake.calls("/crm/v3/objects/contacts/", method="PATCH")
    assert patch.path == f"/crm/v3/objects/contacts/{ADA}"
    assert patch.json() == {"properties": {"jobtitle": "CTO"}}
    assert fake.contacts[ADA]["jobtitle"] == "CTO"


async def test_create_case_opens_a_ticket_in_the_default_pipeline(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        result = await integrations.send_message(
            message("create_case", customer_id=ADA, subject="Refund", description="Double charge")
        )

    ((ticket_id, ticket),) = fake.tickets.items()
    assert result["data"]["id"] == ticket_id
    assert ticket == {
        "properties": {
            "subject": "Refund",
            "content": "Double charge",
            "hs_pipeline": "0",
            "hs_pipeline_stage": "1",
            "hs_ticket_priority": "MEDIUM",
        },
        "associations": [
            {
                "to": {"id": ADA},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 16}],
            }
        ],
    }


async def test_oauth_token_is_refreshed_once_when_it_expires(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(oauth_app(fake))
        await integrations.send_message(message("get_customer_info", customer_id=ADA))
        fake.expire_tokens()
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert result["data"]["id"] == ADA
    token_calls = fake.calls("/oauth/v1/token")
    assert len(token_calls) == 2
    assert parse_qs(token_calls[1].body.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH_TOKEN],
    }
    reads = fake.calls("/crm/v3/objects/contacts/")
    assert len(reads) == 3
    assert reads[2].headers["authorization"] == f"Bearer {next(iter(fake.tokens))}"


async def test_revoked_refresh_token_marks_the_integration_needs_reauth(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    fake.refuse_tokens()
    async with fake.running():
        await integrations.register_integration(oauth_app(fake))
        with pytest.raises(NeedsReauth) as refused:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert refused.value.details["provider_code"] == "invalid_grant"
    assert (await integrations.get_integration("crm_hubspot"))["status"] == "needs_reauth"


async def test_a_refused_private_app_token_needs_reauth_without_refreshing(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake, token="pat-na1-revoked"))
        with pytest.raises(NeedsReauth) as refused:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert refused.value.details["provider_code"] == "INVALID_AUTHENTICATION"
    assert (await integrations.get_integration("crm_hubspot"))["status"] == "needs_reauth"
    assert len(fake.calls("/crm/v3/objects/contacts/")) == 1
    assert fake.calls("/oauth/v1/token") == []


async def test_secondly_rate_limit_is_throttled_for_a_second(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    fake.throttle("SECONDLY")
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    details = failed.value.details
    assert (details["outcome"], details["provider_status"]) == ("throttled", 429)
    assert details["provider_code"] == "RATE_LIMIT"
    assert details["retry_after"] == 1.0
    assert "SECONDLY" in details["provider_message"]


async def test_daily_rate_limit_is_throttled_until_midnight_utc(
    integrations: IntegrationService,
) -> None:
    fake = HubSpotFake()
    fake.throttle("DAILY")
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    details = failed.value.details
    assert details["outcome"] == "throttled"
    seconds_to_midnight = 86400 - time.time() % 86400
    assert abs(details["retry_after"] - seconds_to_midnight) < 60


async def test_unknown_contact_is_a_terminal_not_found(integrations: IntegrationService) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id="999"))

    details = failed.value.details
    assert (details["provider_code"], details["provider_status"]) == ("OBJECT_NOT_FOUND", 404)
    assert details["outcome"] == "terminal"
    assert len(fake.calls("/crm/v3/objects/contacts/")) == 1


async def test_health_reads_one_contact(integrations: IntegrationService) -> None:
    fake = HubSpotFake()
    async with fake.running():
        await integrations.register_integration(private_app(fake))
        health = await integrations.integration_health("crm_hubspot")

    assert health["status"] == "healthy"
    (listing,) = fake.calls("/crm/v3/objects/contacts", method="GET")
    assert parse_qs(listing.query) == {"limit": ["1"]}


# --- webhooks over HTTP -------------------------------------------------------------------

WEBHOOK_URL = "http://testserver/webhooks/crm_hubspot"


async def register_over_http(app: Deployment) -> None:
    response = await app.http.post(
        "/integrations",
        headers=ADMIN,
        json={
            "integration_id": "crm_hubspot",
            "name": "HubSpot CRM",
            "type": "crm",
            "provider": "hubspot",
            "endpoint_url": "http://127.0.0.1:9",
            "auth_type": "bearer",
            "auth_config": {"access_token": PRIVATE_APP_TOKEN, "client_secret": CLIENT_SECRET},
        },
    )
    assert response.status_code == 201, response.text


async def event_ids(app: Deployment) -> list[str]:
    response = await app.http.get("/integrations/crm_hubspot/events", headers=ADMIN)
    assert response.status_code == 200, response.text
    return sorted(item["event_id"] for item in response.json()["events"])


async def test_signed_webhook_events_are_stored_once_even_when_sent_twice(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app)
    body = contact_events(int(ADA), int(OBRIEN))

    for _ in range(2):
        response = await integration_app.http.post(
            "/webhooks/crm_hubspot", content=body, headers=signed_headers(WEBHOOK_URL, body)
        )
        assert response.status_code in (200, 202), response.text

    assert await event_ids(integration_app) == ["100", "101"]
    response = await integration_app.http.get("/integrations/crm_hubspot/events", headers=ADMIN)
    event = response.json()["events"][0]
    assert event["event_type"] == "contact.propertyChange"
    assert event["data"]["portalId"] == 62515


async def test_the_signature_covers_the_query_string(integration_app: Deployment) -> None:
    await register_over_http(integration_app)
    body = contact_events(int(ADA))

    signed_elsewhere = await integration_app.http.post(
        "/webhooks/crm_hubspot?source=a",
        content=body,
        headers=signed_headers(WEBHOOK_URL + "?source=b", body),
    )
    signed_here = await integration_app.http.post(
        "/webhooks/crm_hubspot?source=a",
        content=body,
        headers=signed_headers(WEBHOOK_URL + "?source=a", body),
    )

    assert signed_elsewhere.status_code == 401
    assert signed_here.status_code in (200, 202), signed_here.text


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "changed_body", "unsigned"],
)
async def test_unverified_webhooks_are_401_and_not_stored(
    integration_app: Deployment, tamper: str
) -> None:
    await register_over_http(integration_app)
    body = contact_events(int(ADA))
    headers = signed_headers(
        WEBHOOK_URL, body, secret="not-the-secret" if tamper == "wrong_secret" else CLIENT_SECRET
    )
    if tamper == "changed_body":
        body = contact_events(int(OBRIEN))
    if tamper == "unsigned":
        headers = {"Content-Type": "application/json"}

    response = await integration_app.http.post(
        "/webhooks/crm_hubspot", content=body, headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "webhook_unverified"
    assert await event_ids(integration_app) == []


async def test_a_correctly_signed_but_stale_webhook_is_refused(
    integration_app: Deployment,
) -> None:
    await register_over_http(integration_app)
    body = contact_events(int(ADA))
    six_minutes_ago = int((time.time() - 360) * 1000)

    response = await integration_app.http.post(
        "/webhooks/crm_hubspot",
        content=body,
        headers=signed_headers(WEBHOOK_URL, body, timestamp_ms=six_minutes_ago),
    )

    assert response.status_code == 401
    assert await event_ids(integration_app) == []
