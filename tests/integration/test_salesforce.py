"""Salesforce through the integration service: OAuth (client credentials, refresh token, JWT
bearer), Contacts, SOQL search with paging, call Tasks, Cases, and Salesforce's errors."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt
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
from tests.integration.fakes.salesforce import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    OBRIEN,
    REFRESH_TOKEN,
    SHARED_PHONE,
    USERNAME,
    SalesforceFake,
    rsa_key_pair,
)

FIELDS = "Id,Name,Email,Phone,MobilePhone,AccountId"


def config(fake: SalesforceFake, endpoint_url: str | None = None, **auth: Any) -> IntegrationConfig:
    return IntegrationConfig(
        integration_id="crm_salesforce",
        name="Salesforce CRM",
        type=IntegrationType.CRM,
        endpoint_url=endpoint_url or fake.url,
        auth_type="oauth2",
        auth_config={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_url": f"{fake.url}/services/oauth2/token",
            **auth,
        },
    )


def message(method: str, **args: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="crm_salesforce",
        message_type=MessageType.SYNC,
        payload={"method": method, **args},
    )


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


async def test_get_customer_info_reads_the_contact_with_the_client_credentials_token(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert (await integrations.get_integration("crm_salesforce"))["provider"] == "salesforce"
    assert result["status"] == "delivered"
    assert result["attempts"] == 1
    data = result["data"]
    assert {k: data[k] for k in ("id", "name", "email", "phone")} == {
        "id": ADA,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550101",
    }
    assert data["provider_data"]["attributes"]["type"] == "Contact"
    (token_call,) = fake.calls("/services/oauth2/token")
    assert form(token_call.body) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    (read,) = fake.calls("/sobjects/Contact/")
    assert read.method == "GET"
    assert read.path == f"/services/data/v62.0/sobjects/Contact/{ADA}"
    assert parse_qs(read.query) == {"fields": [FIELDS]}
    (issued,) = fake.tokens
    assert read.headers["authorization"] == f"Bearer {issued}"


async def test_calls_go_to_the_instance_url_the_token_endpoint_returns(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(
            config(fake, endpoint_url="http://localhost:9/nothing-here", api_version="61.0")
        )
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert result["data"]["id"] == ADA
    (read,) = fake.calls("/sobjects/Contact/")
    assert read.path == f"/services/data/v61.0/sobjects/Contact/{ADA}"


async def test_search_by_email_escapes_the_quote_in_the_soql_literal(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("search_customer", email="o'brien@example.com")
        )

    assert result["data"]["total"] == 1
    (found,) = result["data"]["customers"]
    assert (found["id"], found["name"]) == (OBRIEN, "Brian O'Brien")
    (query,) = fake.calls("/query")
    assert query.path == "/services/data/v62.0/query"
    assert parse_qs(query.query)["q"] == [
        "SELECT Id, Name, Email, Phone, MobilePhone, AccountId FROM Contact"
        " WHERE Email = 'o\\'brien@example.com'"
    ]


async def test_search_escapes_backslashes_so_the_value_cannot_end_the_literal(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("search_customer", phone="\\' OR Phone != '")
        )

    assert result["data"] == {"customers": [], "total": 0}
    (query,) = fake.calls("/query")
    assert parse_qs(query.query)["q"][0].endswith("WHERE Phone = '\\\\\\' OR Phone != \\''")


async def test_search_follows_next_records_url_across_pages(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake(page_size=2)
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(message("search_customer", phone=SHARED_PHONE))

    assert result["data"]["total"] == 3
    assert [c["name"] for c in result["data"]["customers"]] == [
        "Shared Line 3",
        "Shared Line 4",
        "Shared Line 5",
    ]
    first, more = fake.calls("/query")
    assert first.path == "/services/data/v62.0/query"
    assert more.path.startswith("/services/data/v62.0/query/01g")
    assert more.path.endswith("-2")


async def test_search_stops_paging_once_it_has_the_limit(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake(page_size=2)
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("search_customer", phone=SHARED_PHONE, limit=2)
        )

    assert len(result["data"]["customers"]) == 2
    assert result["data"]["total"] == 3
    assert len(fake.calls("/query")) == 1


async def test_log_interaction_creates_a_completed_call_task(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message(
                "log_interaction",
                customer_id=ADA,
                subject="Inbound call",
                description="Asked about the invoice",
                direction="inbound",
                duration_seconds=95,
                recording_id="rec-42",
            )
        )

    ((task_id, task),) = fake.tasks.items()
    assert result["data"]["id"] == task_id
    assert result["data"]["provider_data"]["success"] is True
    (create,) = fake.calls("/sobjects/Task", method="POST")
    assert create.path == "/services/data/v62.0/sobjects/Task"
    assert task == create.json()
    assert {k: v for k, v in task.items() if k != "ActivityDate"} == {
        "Subject": "Inbound call",
        "WhoId": ADA,
        "Status": "Completed",
        "TaskSubtype": "Call",
        "CallType": "Inbound",
        "CallDurationInSeconds": 95,
        "Description": "Asked about the invoice\n\nRecording: rec-42",
    }


async def test_update_customer_patches_the_contact_fields(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message("update_customer", customer_id=ADA, fields={"Title": "CTO", "Phone": "+1"})
        )

    assert result["data"] == {"id": ADA, "updated": True}
    (patch,) = fake.calls("/sobjects/Contact/", method="PATCH")
    assert patch.path == f"/services/data/v62.0/sobjects/Contact/{ADA}"
    assert patch.json() == {"Title": "CTO", "Phone": "+1"}
    assert fake.contacts[ADA]["Title"] == "CTO"


async def test_update_of_a_read_only_field_is_a_terminal_provider_error(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message("update_customer", customer_id=ADA, fields={"Name": "X"})
            )

    details = failed.value.details
    assert details["provider_code"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert (details["provider_status"], details["outcome"]) == (400, "terminal")


async def test_create_case_maps_priority_and_sets_phone_origin(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        result = await integrations.send_message(
            message(
                "create_case",
                customer_id=ADA,
                subject="Refund",
                description="Double charge",
                priority="high",
            )
        )

    ((case_id, case),) = fake.cases.items()
    assert result["data"]["id"] == case_id
    assert case == {
        "ContactId": ADA,
        "Subject": "Refund",
        "Description": "Double charge",
        "Priority": "High",
        "Origin": "Phone",
    }


async def test_expired_session_is_refreshed_once_and_the_call_retried(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        await integrations.send_message(message("get_customer_info", customer_id=ADA))
        fake.expire_tokens()
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert result["data"]["id"] == ADA
    assert len(fake.calls("/services/oauth2/token")) == 2
    reads = fake.calls("/sobjects/Contact/")
    assert len(reads) == 3
    assert reads[1].headers["authorization"] != reads[2].headers["authorization"]
    assert reads[2].headers["authorization"] == f"Bearer {next(iter(fake.tokens))}"


async def test_refresh_token_in_auth_config_uses_the_refresh_token_grant(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake, refresh_token=REFRESH_TOKEN))
        await integrations.send_message(message("get_customer_info", customer_id=ADA))

    (token_call,) = fake.calls("/services/oauth2/token")
    assert form(token_call.body) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }


async def test_jwt_bearer_flow_signs_an_rs256_assertion_for_the_user(
    integrations: IntegrationService,
) -> None:
    private_key, public_key = rsa_key_pair()
    fake = SalesforceFake(public_key=public_key)
    async with fake.running():
        await integrations.register_integration(
            IntegrationConfig(
                integration_id="crm_salesforce",
                name="Salesforce CRM",
                type=IntegrationType.CRM,
                endpoint_url=fake.url,
                provider="salesforce",
                auth_config={
                    "client_id": CLIENT_ID,
                    "private_key": private_key,
                    "username": USERNAME,
                    "token_url": f"{fake.url}/services/oauth2/token",
                },
            )
        )
        result = await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert result["data"]["id"] == ADA
    (token_call,) = fake.calls("/services/oauth2/token")
    sent = form(token_call.body)
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        sent["assertion"], public_key, algorithms=["RS256"], audience="https://login.salesforce.com"
    )
    assert (claims["iss"], claims["sub"]) == (CLIENT_ID, USERNAME)


async def test_invalid_grant_marks_the_integration_needs_reauth(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    fake.refuse_tokens("invalid_grant")
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(NeedsReauth) as refused:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    assert refused.value.details["provider_code"] == "invalid_grant"
    assert (await integrations.get_integration("crm_salesforce"))["status"] == "needs_reauth"
    assert fake.calls("/sobjects/") == []


async def test_request_limit_exceeded_is_throttled_for_minutes(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    fake.limit_exceeded = True
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get_customer_info", customer_id=ADA))

    details = failed.value.details
    assert details["outcome"] == "throttled"
    assert details["provider_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert details["provider_status"] == 403
    assert details["retry_after"] >= 300
    assert failed.value.headers["Retry-After"] == "300"


async def test_unknown_contact_is_a_terminal_not_found(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message("get_customer_info", customer_id="003000000000999AAA")
            )

    assert failed.value.status_code == 502
    details = failed.value.details
    assert (details["provider_code"], details["provider_status"]) == ("NOT_FOUND", 404)
    assert details["outcome"] == "terminal"
    assert details["provider_message"] == "The requested resource does not exist"
    assert len(fake.calls("/sobjects/Contact/")) == 1


async def test_a_malformed_id_is_refused_before_calling_salesforce(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(
                message("get_customer_info", customer_id="../../limits")
            )

    assert refused.value.details[0]["loc"] == ["payload", "customer_id"]
    assert fake.requests == []


async def test_health_reports_the_daily_api_requests(
    integrations: IntegrationService,
) -> None:
    fake = SalesforceFake()
    async with fake.running():
        await integrations.register_integration(config(fake))
        health = await integrations.integration_health("crm_salesforce")

    assert health["status"] == "healthy"
    assert health["details"]["daily_api_requests"]["Max"] == 15000
    (limits,) = fake.calls("/limits")
    assert limits.path == "/services/data/v62.0/limits"
