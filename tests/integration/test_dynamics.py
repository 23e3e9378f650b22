"""Dynamics 365 (Dataverse) through the integration service: the Entra ID client-credentials
token, OData contacts (key reads, $filter search with nextLink paging, updates that never
create), phone calls and cases created with OData-EntityId, and Dataverse's errors."""

from __future__ import annotations

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
from tests.integration.fakes.dynamics import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    OBRIEN,
    SHARED_PHONE,
    DynamicsFake,
)

SELECT = "contactid,fullname,emailaddress1,telephone1,mobilephone"
NOBODY = "6a1f0c3e-0009-4a5e-9a3b-000000000009"


def config(fake: DynamicsFake) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="crm_dynamics",
        name="Dynamics 365",
        type=IntegrationType.CRM,
        endpoint_url=fake.url,
        auth_type="oauth2",
        auth_config={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": fake.token_url,
        },
    )


def message(method: str, **args: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="crm_dynamics",
        message_type=MessageType.SYNC,
        payload={"method": method, **args},
    )


def query(raw: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw).items()}


async def test_get_customer_info_reads_the_contact_by_key_with_odata_headers(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert (await integrations.get_integration("crm_dynamics"))["provider"] == "dynamics"
    data = result["data"]
    assert {k: data[k] for k in ("id", "name", "email", "phone")} == {
        "id": ADA,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550101",
    }
    assert data["provider_data"]["@odata.etag"]
    (token_call,) = fake.calls("/oauth2/v2.0/token")
    assert query(token_call.body.decode()) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": f"{fake.url}/.default",
    }
    (read,) = fake.calls("/api/data/")
    assert (read.method, read.path) == ("GET", f"/api/data/v9.2/contacts({ADA})")
    assert query(read.query) == {"$select": SELECT}
    (issued,) = fake.tokens
    assert read.headers["authorization"] == f"Bearer {issued}"
    assert read.headers["odata-version"] == read.headers["odata-maxversion"] == "4.0"
    assert read.headers["accept"] == "application/json"


async def test_search_doubles_the_quote_in_the_filter_literal(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("search_customer", email="o'brien@example.com")
        )

    assert result["data"]["total"] == 1
    (found,) = result["data"]["customers"]
    assert (found["id"], found["name"]) == (OBRIEN, "Brian O'Brien")
    (search,) = fake.calls("/api/data/v9.2/contacts")
    assert query(search.query) == {
        "$select": SELECT,
        "$filter": "emailaddress1 eq 'o''brien@example.com'",
        "$count": "true",
    }
    assert search.headers["prefer"] == "odata.maxpagesize=20"


async def test_search_follows_the_next_link_across_pages(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake(page_size=2)
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(message("search_customer", phone=SHARED_PHONE))

    assert result["data"]["total"] == 3
    assert [c["name"] for c in result["data"]["customers"]] == [
        "Shared Line 3",
        "Shared Line 4",
        "Shared Line 5",
    ]
    first, second = fake.calls("/api/data/v9.2/contacts")
    assert "$skiptoken" not in query(first.query)
    assert query(second.query)["$skiptoken"] == '<cookie pagenumber="2" />'
    assert query(second.query)["$filter"] == f"telephone1 eq '{SHARED_PHONE}'"
    assert second.headers["prefer"] == "odata.maxpagesize=20"


async def test_log_interaction_creates_a_phone_call_regarding_the_contact(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message(
                "log_interaction",
                customer_id=ADA,
                subject="Inbound call",
                description="Asked about the invoice",
                direction="inbound",
                duration_seconds=61,
                recording_id="rec-42",
            )
        )

    ((call_id, call),) = fake.phonecalls.items()
    assert result["data"]["id"] == call_id
    (create,) = fake.calls("/phonecalls", method="POST")
    assert create.path == "/api/data/v9.2/phonecalls"
    assert call == {
        "subject": "Inbound call",
        "description": "Asked about the invoice\n\nRecording: rec-42",
        "directioncode": False,
        "actualdurationminutes": 2,
        "regardingobjectid_contact@odata.bind": f"/contacts({ADA})",
    }


async def test_update_customer_patches_with_if_match_so_it_never_creates(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("update_customer", customer_id=ADA, fields={"jobtitle": "CTO"})
        )
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message("update_customer", customer_id=NOBODY, fields={"jobtitle": "CTO"})
            )

    assert result["data"] == {"id": ADA, "updated": True}
    patch, _ = fake.calls("/contacts(", method="PATCH")
    assert patch.path == f"/api/data/v9.2/contacts({ADA})"
    assert patch.headers["if-match"] == "*"
    assert patch.json() == {"jobtitle": "CTO"}
    assert fake.contacts[ADA]["jobtitle"] == "CTO"
    assert failed.value.details["provider_status"] == 404
    assert NOBODY not in fake.contacts


async def test_create_case_opens_an_incident_with_mapped_priority(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message(
                "create_case",
                customer_id=ADA,
                subject="Refund",
                description="Double charge",
                priority="low",
            )
        )

    ((incident_id, incident),) = fake.incidents.items()
    assert result["data"]["id"] == incident_id
    assert incident == {
        "title": "Refund",
        "description": "Double charge",
        "prioritycode": 3,
        "caseorigincode": 1,
        "customerid_contact@odata.bind": f"/contacts({ADA})",
    }


async def test_expired_token_is_refreshed_once_and_the_call_retried(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        await integrations.send_message(message("get_customer_info", customer_id=ADA))
        fake.expire_tokens()
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert result["data"]["id"] == ADA
    assert len(fake.calls("/oauth2/v2.0/token")) == 2
    reads = fake.calls("/api/data/")
    assert len(reads) == 3
    assert reads[2].headers["authorization"] == f"Bearer {next(iter(fake.tokens))}"


@pytest.mark.parametrize(
    ("error", "description", "status"),
    [
        ("invalid_grant", "AADSTS700082: The refresh token has expired.", 400),
        ("invalid_client", "AADSTS7000222: The provided client secret keys are expired.", 401),
    ],
)
async def test_refused_credentials_mark_the_integration_needs_reauth(
    integrations: IntegrationService, error: str, description: str, status: int
) -> None:
    fake = DynamicsFake()
    fake.refuse_tokens(error, description, status)
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(NeedsReauth) as refused:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert refused.value.details["provider_code"] == error
    assert (await integrations.get_integration("crm_dynamics"))["status"] == "needs_reauth"
    assert fake.calls("/api/data/") == []


async def test_service_protection_429_is_throttled_for_its_retry_after(
    integrations: IntegrationService,
) -> None:
    fake = DynamicsFake()
    fake.throttle(retry_after=7)
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    details = failed.value.details
    assert (details["outcome"], details["provider_status"]) == ("throttled", 429)
    assert details["provider_code"] == "0x80072322"
    assert details["retry_after"] == 7.0
    assert failed.value.headers["Retry-After"] == "7"


async def test_unknown_contact_is_a_terminal_not_found(integrations: IntegrationService) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id=NOBODY))

    details = failed.value.details
    assert (details["provider_code"], details["provider_status"]) == ("0x80040217", 404)
    assert details["outcome"] == "terminal"
    assert details["provider_message"] == f"contact With Id = {NOBODY} Does Not Exist"
    assert len(fake.calls("/api/data/")) == 1


async def test_health_asks_who_am_i(integrations: IntegrationService) -> None:
    fake = DynamicsFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        health = await integrations.integration_health("crm_dynamics")

    assert health["status"] == "healthy"
    assert health["details"]["UserId"] == "a1a1a1a1-0000-4000-8000-000000000001"
    (who,) = fake.calls("/WhoAmI")
    assert who.path == "/api/data/v9.2/WhoAmI"
