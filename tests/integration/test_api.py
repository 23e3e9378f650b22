"""The integration HTTP API: the spec's bodies, the error shape, permissions, secrets that
never come back, and the routes around messages."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.integration.conftest import Deployment
from tests.integration.fakes.common import Fault
from tests.integration.fakes.shop import ShopFake
from tests.integration.support import ADMIN, AGENT, VIEWER

SPEC_BODY = {
    "integration_id": "crm_salesforce",
    "name": "Salesforce CRM",
    "type": "crm",
    "endpoint_url": "https://api.salesforce.com/v1",
    "auth_type": "oauth2",
    "auth_config": {"client_id": "your_client_id", "client_secret": "your_client_secret"},
}


def shop_body(url: str, integration_id: str = "shop", **extra: object) -> dict[str, object]:
    return {
        "integration_id": integration_id,
        "name": "Shop",
        "type": "custom",
        "endpoint_url": url,
        "provider": "rest",
        "auth_type": "api_key",
        "auth_config": {"api_key": "shop-api-key-do-not-leak", "header": "X-Api-Key"},
        **extra,
    }


async def test_the_specs_registration_body_infers_salesforce_and_masks_the_secret(
    integration_app: Deployment,
) -> None:
    response = await integration_app.http.post("/integrations", json=SPEC_BODY, headers=ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider"] == "salesforce" and body["status"] == "active"
    assert body["auth_config"] == {"client_id": "your_client_id", "client_secret": "***"}
    again = await integration_app.http.post("/integrations", json=SPEC_BODY, headers=ADMIN)
    assert again.status_code == 201 and again.json()["created_at"] == body["created_at"]
    changed = {**SPEC_BODY, "name": "Other"}
    conflict = await integration_app.http.post("/integrations", json=changed, headers=ADMIN)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "integration_exists"


async def test_secrets_are_sealed_at_rest_and_kept_out_of_logs(
    integration_app: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shop = ShopFake()
    async with shop.running() as url:
        created = await integration_app.http.post(
            "/integrations", json=shop_body(url), headers=ADMIN
        )
        assert created.status_code == 201
        sent = await integration_app.http.post(
            "/integrations/shop/messages",
            json={"message_type": "SYNC", "payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
    assert sent.status_code == 200, sent.text
    assert shop.requests[0].headers["x-api-key"] == "shop-api-key-do-not-leak"
    listed = (await integration_app.http.get("/integrations", headers=VIEWER)).json()
    assert listed["integrations"][0]["auth_config"]["api_key"] == "***"
    database = tmp_path / "var" / "aicc.db"
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT * FROM integration").fetchall()
    assert b"shop-api-key-do-not-leak" not in repr(rows).encode()
    assert "shop-api-key-do-not-leak" not in caplog.text


async def test_a_patch_replaces_one_secret_and_keeps_the_others(
    integration_app: Deployment,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        patched = await integration_app.http.patch(
            "/integrations/shop",
            json={"auth_config": {"api_key": "rotated-key"}, "options": {"max_attempts": 3}},
            headers=ADMIN,
        )
        assert patched.status_code == 200, patched.text
        await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
    assert patched.json()["auth_config"] == {"api_key": "***", "header": "X-Api-Key"}
    assert patched.json()["options"]["max_attempts"] == 3
    assert shop.requests[-1].headers["x-api-key"] == "rotated-key"


async def test_a_provider_error_is_a_502_in_the_common_shape(integration_app: Deployment) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=422, body={"code": "OUT_OF_STOCK", "message": "no stock"}))
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        response = await integration_app.http.post(
            "/integrations/shop/messages",
            json={
                "message_type": "sync",
                "payload": {
                    "method": "request",
                    "http_method": "POST",
                    "path": "/orders",
                    "json": {"sku": "A"},
                },
            },
            headers=AGENT,
        )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error" and error["request_id"]
    assert error["details"]["provider_status"] == 422
    assert error["details"]["outcome"] == "terminal"


async def test_an_async_message_is_accepted_with_202_and_idempotency_key_header(
    integration_app: Deployment,
) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        body = {
            "message_type": "async",
            "payload": {"method": "request", "http_method": "POST", "path": "/orders"},
        }
        headers = {**AGENT, "Idempotency-Key": "order-2026-0001"}
        first = await integration_app.http.post(
            "/integrations/shop/messages", json=body, headers=headers
        )
        second = await integration_app.http.post(
            "/integrations/shop/messages", json=body, headers=headers
        )
        mismatch = await integration_app.http.post(
            "/integrations/shop/messages",
            json={**body, "message_id": "other"},
            headers=headers,
        )
    assert first.status_code == 202 and first.json()["message_id"] == "order-2026-0001"
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert mismatch.status_code == 422


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**SPEC_BODY, "provider": "pigeon"}, "unknown_provider"),
        ({**SPEC_BODY, "auth_type": "basic"}, "unsupported_auth_type"),
        ({**SPEC_BODY, "auth_config": {}}, "invalid_auth_config"),
        ({**SPEC_BODY, "integration_id": "../etc"}, "validation_error"),
        ({**SPEC_BODY, "endpoint_url": "file:///etc/passwd"}, "url_not_allowed"),
        (
            {
                **SPEC_BODY,
                "type": "crm",
                "integration_id": "crm_main",
                "endpoint_url": "https://crm.example.com",
            },
            "ambiguous_provider",
        ),
    ],
)
async def test_bad_registrations_are_422_with_a_code(
    integration_app: Deployment, body: dict[str, object], code: str
) -> None:
    response = await integration_app.http.post("/integrations", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_an_ambiguous_registration_lists_the_choices(integration_app: Deployment) -> None:
    body = {**SPEC_BODY, "integration_id": "crm_main", "endpoint_url": "https://crm.example.com"}
    response = await integration_app.http.post("/integrations", json=body, headers=ADMIN)
    assert set(response.json()["error"]["details"]["choices"]) >= {"salesforce", "hubspot"}


async def test_roles_decide_who_registers_sends_and_reads(integration_app: Deployment) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        refused = await integration_app.http.post(
            "/integrations", json=shop_body(url), headers=AGENT
        )
        anonymous = await integration_app.http.get("/integrations")
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        viewer_send = await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request"}},
            headers=VIEWER,
        )
        viewer_read = await integration_app.http.get("/integrations/shop", headers=VIEWER)
        agent_delete = await integration_app.http.delete("/integrations/shop", headers=AGENT)
    assert refused.status_code == 403 and anonymous.status_code == 401
    assert viewer_send.status_code == 403 and viewer_read.status_code == 200
    assert agent_delete.status_code == 403


async def test_deleting_an_integration_removes_it_and_its_log(integration_app: Deployment) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
        deleted = await integration_app.http.delete("/integrations/shop", headers=ADMIN)
        after = await integration_app.http.get("/integrations/shop", headers=ADMIN)
        log = await integration_app.http.get("/integrations/shop/messages", headers=ADMIN)
    assert deleted.status_code == 204
    assert after.status_code == 404 and after.json()["error"]["code"] == "integration_not_found"
    assert log.status_code == 404


async def test_the_message_routes_list_read_and_filter(integration_app: Deployment) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        sent = await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
        message_id = sent.json()["message_id"]
        one = await integration_app.http.get(
            f"/integrations/shop/messages/{message_id}", headers=VIEWER
        )
        delivered = await integration_app.http.get(
            "/integrations/shop/messages?status=delivered", headers=VIEWER
        )
        bad = await integration_app.http.get(
            "/integrations/shop/messages?status=lost", headers=VIEWER
        )
        missing = await integration_app.http.get("/integrations/shop/messages/nope", headers=VIEWER)
        health = await integration_app.http.get("/integrations/shop/health", headers=VIEWER)
        providers = await integration_app.http.get("/integrations/providers", headers=VIEWER)
    assert one.json()["result"]["body"]["name"] == "홍길동"
    assert [m["message_id"] for m in delivered.json()["messages"]] == [message_id]
    assert bad.status_code == 422 and missing.status_code == 404
    assert health.json()["status"] == "healthy" and health.json()["breaker"] == "closed"
    names = {p["provider"] for p in providers.json()["providers"]}
    assert {"salesforce", "toss", "fcm", "rest", "twitter"} <= names


async def test_metrics_count_calls_by_outcome(integration_app: Deployment) -> None:
    shop = ShopFake()
    async with shop.running() as url:
        await integration_app.http.post("/integrations", json=shop_body(url), headers=ADMIN)
        await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
    text = (await integration_app.http.get("/metrics")).text
    assert (
        'aicc_integration_requests_total{integration="shop",method="request",'
        'outcome="success",provider="rest"} 1.0'
    ) in text
    assert 'aicc_integration_duration_seconds_count{method="request",provider="rest"} 1.0' in text


async def test_metrics_show_dead_letters_and_breaker_state(integration_app: Deployment) -> None:
    shop = ShopFake()
    shop.fail(Fault(status=404, body={"error": "gone"}))
    async with shop.running() as url:
        body = shop_body(url, options={"breaker_threshold": 3})
        await integration_app.http.post("/integrations", json=body, headers=ADMIN)
        failed = await integration_app.http.post(
            "/integrations/shop/messages",
            json={"payload": {"method": "request", "path": "/customers/1"}},
            headers=AGENT,
        )
    assert failed.status_code == 502
    text = (await integration_app.http.get("/metrics")).text
    assert 'aicc_integration_dead_letters{integration="shop"} 1.0' in text
    assert 'aicc_integration_breaker_state{integration="shop"} 0.0' in text
    assert 'aicc_integration_needs_reauth{integration="shop"} 0.0' in text


async def test_the_type_decides_when_the_id_names_another_kind(integration_app: Deployment) -> None:
    body = {
        "integration_id": "erp_orders",
        "name": "Order API",
        "type": "custom",
        "endpoint_url": "https://orders.example.com",
        "auth_type": "api_key",
        "auth_config": {"api_key": "k-123456", "token_url": "https://orders.example.com/t"},
    }
    response = await integration_app.http.post("/integrations", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "rest"
    assert response.json()["auth_config"] == {
        "api_key": "***",
        "token_url": "https://orders.example.com/t",
    }
