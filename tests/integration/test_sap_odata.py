"""The OData (SAP) ERP connector through the integration service, against a stand-in in SAP
Gateway's v2 flavour and in v4: paging, key escaping, CSRF-protected writes, errors, auth."""

from __future__ import annotations

import uuid
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
from aicc.integration.errors import NeedsReauth, ProviderFailed
from tests.integration.fakes.common import Fault, Recorded
from tests.integration.fakes.sap_odata import (
    CLIENT_ID,
    CLIENT_SECRET,
    COOKIE,
    PASSWORD,
    USERNAME,
    FakeSapOData,
)

VERSIONS = pytest.mark.parametrize("version", ["v2", "v4"])
CREATED = "2023-11-14T22:13:20Z"


def sap_config(fake: FakeSapOData, auth_type: str = "basic", **auth: Any) -> IntegrationConfig:
    if auth_type == "basic":
        auth = {"username": USERNAME, "password": PASSWORD, **auth}
    return IntegrationConfig(
        integration_id="erp_sap",
        name="S/4HANA",
        type=IntegrationType.ERP,
        endpoint_url=fake.service_url,
        auth_type=auth_type,
        auth_config=auth,
        provider="sap_odata",
    )


def message(method: str, **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id="erp_sap",
        message_type=MessageType.SYNC,
        payload={"method": method, **payload},
    )


def query_of(request: Recorded) -> dict[str, str]:
    return dict(parse_qsl(request.query, keep_blank_values=True))


@VERSIONS
async def test_query_follows_server_paging_and_answers_the_same_records_in_v2_and_v4(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version, page_size=2)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(
            message(
                "query",
                entity_set="Products",
                filter="Category eq 'Phone'",
                select=["Name", "CreatedAt"],
            )
        )

    data = result["data"]
    assert data["records"] == [
        {"ProductID": "P1", "Name": "Galaxy S", "CreatedAt": CREATED},
        {"ProductID": "P3", "Name": "Pixel", "CreatedAt": CREATED},
        {"ProductID": "P5", "Name": "iPhone", "CreatedAt": CREATED},
        {"ProductID": "P6", "Name": "Xperia", "CreatedAt": CREATED},
    ]
    assert (data["count"], data["pages"], data["more"]) == (4, 2, False)
    first, second = fake.calls("/Products", method="GET")
    assert first.path == f"{fake.root}/Products"
    options = query_of(first)
    assert options["$filter"] == "Category eq 'Phone'"
    assert options["$select"] == "Name,CreatedAt"
    assert ("$format" in options) is (version == "v2")
    assert query_of(second)["$skiptoken"] == "2"
    assert first.headers["authorization"] == second.headers["authorization"]


async def test_query_stops_at_max_pages_and_says_more_remain(
    integrations: IntegrationService,
) -> None:
    fake = FakeSapOData("v4", page_size=2)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(
            message("query", entity_set="Products", max_pages=1)
        )

    assert (result["data"]["count"], result["data"]["more"]) == (2, True)
    assert len(fake.requests) == 1


@VERSIONS
async def test_query_passes_top_skip_and_orderby(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version, page_size=2)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(
            message("query", entity_set="Products", orderby="Price desc", skip=1, top=3)
        )

    assert [r["ProductID"] for r in result["data"]["records"]] == ["P5", "P1", "P3"]
    assert result["data"]["pages"] == 2
    options = query_of(fake.requests[0])
    assert (options["$orderby"], options["$skip"], options["$top"]) == ("Price desc", "1", "3")


async def test_a_filter_with_a_quoted_literal_is_sent_as_given(
    integrations: IntegrationService,
) -> None:
    fake = FakeSapOData("v2")
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(
            message("query", entity_set="Products", filter="Name eq 'O''Neil Headset'")
        )

    assert [r["Name"] for r in result["data"]["records"]] == ["O'Neil Headset"]
    assert query_of(fake.requests[0])["$filter"] == "Name eq 'O''Neil Headset'"


@VERSIONS
async def test_get_escapes_composite_and_single_keys(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        item = await integrations.send_message(
            message("get", entity_set="OrderItems", key={"OrderID": "SO/1'A", "ItemNo": "20"})
        )
        product = await integrations.send_message(message("get", entity_set="Products", key="P2"))

    assert item["data"]["record"] == {
        "OrderID": "SO/1'A",
        "ItemNo": "20",
        "ProductID": "P2",
        "Quantity": 1,
        "CreatedAt": CREATED,
    }
    assert product["data"]["record"]["Name"] == "O'Neil Headset"
    first, second = fake.requests
    assert first.path == f"{fake.root}/OrderItems(OrderID='SO/1''A',ItemNo='20')"
    assert second.path == f"{fake.root}/Products('P2')"


@VERSIONS
async def test_a_missing_entity_is_a_terminal_failure_with_the_services_error(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("get", entity_set="Products", key="P404"))

    details = failed.value.details
    assert details["provider_code"] == "/IWBEP/CM_MGW_RT/020"
    assert details["provider_message"].startswith("Resource not found")
    assert (details["provider_status"], details["outcome"]) == (404, "terminal")


@VERSIONS
async def test_create_fetches_a_csrf_token_and_sends_it_with_the_session_cookie(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version)
    new = {"ProductID": "P9", "Name": "Galaxy Tab", "Category": "Tablet", "Price": 700}
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(message("create", entity_set="Products", data=new))

    assert result["data"]["created"] is True
    record = result["data"]["record"]
    assert {k: record[k] for k in new} == new
    assert "__metadata" not in record and "@odata.etag" not in record
    fetch, write = fake.requests
    assert (fetch.method, fetch.headers["x-csrf-token"]) == ("GET", "Fetch")
    assert write.method == "POST" and write.path == f"{fake.root}/Products"
    (session,) = fake.sessions
    assert write.headers["x-csrf-token"] == fake.sessions[session]
    assert write.headers["cookie"] == f"{COOKIE}={session}"
    assert write.json() == new
    assert fake.row("Products", ProductID="P9") is not None


@VERSIONS
async def test_update_merges_in_v2_and_patches_in_v4(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        result = await integrations.send_message(
            message("update", entity_set="Products", key="P1", data={"Price": 1150})
        )

    assert result["data"] == {"updated": True, "record": None}
    row = fake.row("Products", ProductID="P1")
    assert row is not None and row["Price"] == 1150
    write = fake.requests[-1]
    if version == "v2":
        assert (write.method, write.headers["x-http-method"]) == ("POST", "MERGE")
    else:
        assert write.method == "PATCH" and "x-http-method" not in write.headers
    assert write.path == f"{fake.root}/Products('P1')"


async def test_a_write_refused_for_its_csrf_token_fetches_a_new_one_and_retries_once(
    integrations: IntegrationService,
) -> None:
    fake = FakeSapOData("v2")
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        fake.expire_before_next_write = True
        result = await integrations.send_message(
            message("update", entity_set="Products", key="P2", data={"Price": 95})
        )

    assert result["data"]["updated"] is True
    assert result["attempts"] == 1
    assert [(r.method, r.headers.get("x-csrf-token")) for r in fake.requests][::2] == [
        ("GET", "Fetch"),
        ("GET", "Fetch"),
    ]
    first_write, second_write = fake.requests[1], fake.requests[3]
    assert first_write.headers["x-csrf-token"] != second_write.headers["x-csrf-token"]


async def test_a_write_refused_twice_for_csrf_gives_up(integrations: IntegrationService) -> None:
    fake = FakeSapOData("v4")
    required = Fault(
        status=403,
        body=b"CSRF token validation failed",
        headers={"x-csrf-token": "Required"},
        path="/Products(",
    )
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        fake.fail(required, required)
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                message("update", entity_set="Products", key="P2", data={"Price": 95})
            )

    assert failed.value.details["provider_code"] == "csrf_token_required"
    assert len(fake.calls("/Products(", method="PATCH")) == 2


async def test_a_throttled_query_reports_the_services_retry_after(
    integrations: IntegrationService,
) -> None:
    fake = FakeSapOData("v4")
    busy = {"error": {"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}}
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        fake.fail(Fault(status=429, body=busy, headers={"Retry-After": "7"}))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(message("query", entity_set="Products"))

    details = failed.value.details
    assert (details["provider_code"], details["outcome"]) == ("TOO_MANY_REQUESTS", "throttled")
    assert details["retry_after"] == 7


async def test_a_503_read_is_retried_once(integrations: IntegrationService) -> None:
    fake = FakeSapOData("v2")
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        fake.fail(Fault(status=503, body=b"Service Unavailable"))
        result = await integrations.send_message(message("get", entity_set="Products", key="P4"))

    assert result["attempts"] == 2
    assert result["data"]["record"]["Name"] == "ThinkPad"


async def test_oauth2_client_credentials_token_is_fetched_once_and_sent_as_bearer(
    integrations: IntegrationService,
) -> None:
    fake = FakeSapOData("v4")
    async with fake.running():
        await integrations.register_integration(
            sap_config(
                fake,
                "oauth2",
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                token_url=f"{fake.url}/oauth/token",
            )
        )
        for key in ("P1", "P3"):
            await integrations.send_message(message("get", entity_set="Products", key=key))

    assert fake.token_requests == 1
    reads = fake.calls("/Products(", method="GET")
    assert len(reads) == 2
    assert all(r.headers["authorization"].startswith("Bearer oauth-") for r in reads)


async def test_a_static_bearer_token_is_sent_as_given(integrations: IntegrationService) -> None:
    fake = FakeSapOData("v4")
    async with fake.running():
        await integrations.register_integration(
            sap_config(fake, "bearer", access_token="static-bearer-token")
        )
        await integrations.send_message(message("get", entity_set="Products", key="P1"))

    assert fake.requests[0].headers["authorization"] == "Bearer static-bearer-token"


async def test_refused_basic_credentials_need_reauth(integrations: IntegrationService) -> None:
    fake = FakeSapOData("v2")
    async with fake.running():
        await integrations.register_integration(sap_config(fake, password="expired"))
        with pytest.raises(NeedsReauth):
            await integrations.send_message(message("get", entity_set="Products", key="P1"))


@VERSIONS
async def test_health_reads_the_service_document(
    integrations: IntegrationService, version: str
) -> None:
    fake = FakeSapOData(version)
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        health = await integrations.integration_health("erp_sap")

    assert health["status"] == "healthy"
    assert health["details"]["odata_version"] == version
    assert health["details"]["entity_sets"] == ["Products", "OrderItems"]
    assert fake.requests[0].path == fake.root + "/"


@pytest.mark.parametrize(
    "payload",
    [
        {"entity_set": "Products?$top=1"},
        {"entity_set": "Products", "select": ["Name", "Price desc"]},
        {"entity_set": "Products", "max_pages": 0},
    ],
)
async def test_bad_query_arguments_are_refused_before_calling_the_service(
    integrations: IntegrationService, payload: dict[str, Any]
) -> None:
    fake = FakeSapOData("v4")
    async with fake.running():
        await integrations.register_integration(sap_config(fake))
        with pytest.raises(ValidationFailed):
            await integrations.send_message(message("query", **payload))

    assert fake.requests == []


async def test_the_provider_is_inferred_from_an_erp_integration_id(
    integrations: IntegrationService,
) -> None:
    registered = await integrations.register_integration(
        IntegrationConfig(
            integration_id="erp_sap_main",
            name="ERP",
            type=IntegrationType.ERP,
            endpoint_url="https://erp.example.com/sap/opu/odata/sap/API_SALES_ORDER_SRV",
            auth_config={"username": USERNAME, "password": PASSWORD},
        )
    )

    assert (registered["provider"], registered["auth_type"]) == ("sap_odata", "basic")
