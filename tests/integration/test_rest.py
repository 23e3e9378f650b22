"""The generic REST connector through the integration service: each auth kind as the API
receives it, paths that must stay under the endpoint, idempotency keys, error outcomes, and
HMAC-signed inbound webhooks over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
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
from tests.integration.fakes.common import Fault, Recorded
from tests.integration.fakes.rest import FakeRest
from tests.integration.support import ADMIN

WEBHOOK_SECRET = "whsec-test-7c1d"


async def register(
    service: IntegrationService, fake: FakeRest, auth_type: str = "none", **auth: Any
) -> str:
    integration_id = f"api-{uuid.uuid4().hex[:8]}"
    await service.register_integration(
        IntegrationConfig(
            integration_id=integration_id,
            name="Partner API",
            type=IntegrationType.CUSTOM,
            endpoint_url=f"{fake.url}/api/v1",
            auth_type=auth_type,
            auth_config=auth,
            provider="rest",
        )
    )
    return integration_id


def request(integration_id: str, **payload: Any) -> IntegrationMessage:
    return IntegrationMessage(
        message_id=str(uuid.uuid4()),
        integration_id=integration_id,
        message_type=MessageType.SYNC,
        payload={"method": "request", **payload},
    )


def hmac_of(secret: str, stamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, "sha256").hexdigest()


def check_basic(fake: FakeRest, seen: Recorded) -> None:
    pair = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
    assert seen.headers["authorization"] == f"Basic {pair}"


def check_hmac(fake: FakeRest, seen: Recorded) -> None:
    stamp = seen.headers["x-timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    assert seen.headers["x-signature"] == hmac_of(fake.hmac_secret, stamp, seen.body)


AUTH_CASES: dict[str, tuple[str, Callable[[FakeRest], dict[str, Any]], Any]] = {
    "api_key": (
        "api_key",
        lambda f: {"api_key": f.api_key},
        lambda f, seen: seen.headers["x-api-key"] == f.api_key,
    ),
    "api_key_query": (
        "api_key",
        lambda f: {"api_key": f.api_key, "query_param": "api_key"},
        lambda f, seen: f"api_key={f.api_key}" in seen.query and "x-api-key" not in seen.headers,
    ),
    "basic": (
        "basic",
        lambda f: {"username": f.username, "password": f.password},
        check_basic,
    ),
    "bearer": (
        "bearer",
        lambda f: {"token": f.bearer},
        lambda f, seen: seen.headers["authorization"] == f"Bearer {f.bearer}",
    ),
    "oauth2": (
        "oauth2",
        lambda f: {
            "client_id": f.client_id,
            "client_secret": f.client_secret,
            "token_url": f"{f.url}/oauth/token",
            "scope": "orders.write",
        },
        lambda f, seen: seen.headers["authorization"].removeprefix("Bearer ") in f.issued,
    ),
    "hmac": ("hmac", lambda f: {"secret": f.hmac_secret}, check_hmac),
}


@pytest.mark.parametrize("kind", sorted(AUTH_CASES))
async def test_each_auth_kind_reaches_the_api_as_configured(
    integrations: IntegrationService, kind: str
) -> None:
    auth_type, config, check = AUTH_CASES[kind]
    fake = FakeRest()
    fake.expect = kind  # type: ignore[assignment]
    async with fake.running():
        api = await register(integrations, fake, auth_type, **config(fake))
        result = await integrations.send_message(
            request(
                api, http_method="POST", path="orders", json={"sku": "A-1", "메모": "빠른 배송"}
            )
        )

    assert result["status"] == "delivered"
    assert result["data"]["status_code"] == 201
    assert result["data"]["body"]["json"] == {"sku": "A-1", "메모": "빠른 배송"}
    (seen,) = fake.calls("/api/v1/orders")
    check(fake, seen)


async def test_oauth2_token_is_reused_and_refreshed_once_when_refused(
    integrations: IntegrationService,
) -> None:
    fake = FakeRest()
    fake.expect = "oauth2"
    async with fake.running():
        api = await register(integrations, fake, "oauth2", **AUTH_CASES["oauth2"][1](fake))
        await integrations.send_message(request(api, path="orders"))
        await integrations.send_message(request(api, path="orders"))
        assert len(fake.token_requests) == 1
        fake.revoke_tokens()
        result = await integrations.send_message(request(api, path="orders"))

    assert result["status"] == "delivered"
    assert len(fake.token_requests) == 2
    assert fake.token_requests[0] == {"grant_type": "client_credentials", "scope": "orders.write"}
    assert [r.method for r in fake.calls("/api/v1/orders")] == ["GET"] * 4


async def test_refused_static_credentials_need_reauth(integrations: IntegrationService) -> None:
    fake = FakeRest()
    fake.expect = "bearer"
    async with fake.running():
        api = await register(integrations, fake, "bearer", token="revoked")
        with pytest.raises(NeedsReauth):
            await integrations.send_message(request(api, path="orders"))

    assert len(fake.calls("/api/v1/orders")) == 1
    assert (await integrations.get_integration(api))["status"] == "needs_reauth"


async def test_post_carries_the_message_id_as_idempotency_key_and_get_does_not(
    integrations: IntegrationService,
) -> None:
    fake = FakeRest()
    async with fake.running():
        api = await register(integrations, fake)
        post = request(api, http_method="POST", path="orders", json={"sku": "A-1"})
        await integrations.send_message(post)
        await integrations.send_message(request(api, path="orders"))

    posted, got = fake.calls("/api/v1/orders")
    assert posted.headers["idempotency-key"] == post.message_id
    assert "idempotency-key" not in got.headers


async def test_answer_holds_status_allowed_headers_and_parsed_body(
    integrations: IntegrationService,
) -> None:
    fake = FakeRest()
    async with fake.running():
        api = await register(integrations, fake)
        result = await integrations.send_message(
            request(api, path="/customers/42", query={"fields": ["name", "phone"], "active": True})
        )
        text = await integrations.send_message(request(api, path="text"))

    data = result["data"]
    assert data["status_code"] == 200
    assert data["headers"] == {
        "content-type": "application/json",
        "etag": '"v1"',
        "location": "/api/items/1",
    }
    assert data["body"]["path"] == "/api/v1/customers/42"
    assert data["body"]["query"] == [["fields", "name"], ["fields", "phone"], ["active", "true"]]
    assert text["data"]["body"] == "안녕하세요"


@pytest.mark.parametrize(
    "path",
    [
        "../admin",
        "a/../../admin",
        "%2e%2e/admin",
        "a/%252e%252e/b",
        "https://evil.example/x",
        "//evil.example/x",
        "a\\..\\b",
        "orders?admin=1",
    ],
)
async def test_paths_that_leave_the_endpoint_are_refused_before_any_request(
    integrations: IntegrationService, path: str
) -> None:
    fake = FakeRest()
    async with fake.running():
        api = await register(integrations, fake)
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(request(api, path=path))

    assert refused.value.status_code == 422
    assert refused.value.details[0]["loc"] == ["payload", "path"]
    assert fake.requests == []


@pytest.mark.parametrize("header", ["Authorization", "host", "X-Timestamp"])
async def test_headers_the_integration_sets_cannot_be_overridden(
    integrations: IntegrationService, header: str
) -> None:
    fake = FakeRest()
    async with fake.running():
        api = await register(integrations, fake)
        with pytest.raises(ValidationFailed) as refused:
            await integrations.send_message(request(api, headers={header: "x"}))

    assert refused.value.details[0]["loc"] == ["payload", "headers"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "headers", "outcome"),
    [(429, {"Retry-After": "12"}, "throttled"), (503, {}, "retryable"), (404, {}, "terminal")],
)
async def test_error_answers_become_provider_failures_with_their_outcome(
    integrations: IntegrationService, status: int, headers: dict[str, str], outcome: str
) -> None:
    fake = FakeRest()
    async with fake.running():
        api = await register(integrations, fake)
        fake.fail(Fault(status=status, headers=headers, body={"error": "nope"}))
        with pytest.raises(ProviderFailed) as failed:
            await integrations.send_message(
                request(api, http_method="PUT", path="orders/1", json={"qty": 2})
            )

    details = failed.value.details
    assert (details["provider_status"], details["outcome"]) == (status, outcome)
    if headers:
        assert details["retry_after"] == 12.0


# --- inbound webhooks over HTTP ---------------------------------------------------------------


async def register_hook(app: Deployment) -> str:
    integration_id = f"hook-{uuid.uuid4().hex[:8]}"
    response = await app.http.post(
        "/integrations",
        headers=ADMIN,
        json={
            "integration_id": integration_id,
            "name": "Partner webhooks",
            "type": "custom",
            "provider": "rest",
            "endpoint_url": "http://127.0.0.1:9",
            "auth_type": "none",
            "auth_config": {"webhook_secret": WEBHOOK_SECRET},
        },
    )
    assert response.status_code in (200, 201), response.text
    return integration_id


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, age: float = 0) -> dict[str, str]:
    stamp = str(int(time.time() - age))
    return {
        "X-Timestamp": stamp,
        "X-Signature": hmac_of(secret, stamp, body),
        "Content-Type": "application/json",
    }


async def events(app: Deployment, integration_id: str) -> list[dict[str, Any]]:
    response = await app.http.get(f"/integrations/{integration_id}/events", headers=ADMIN)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["events"]
    return items


async def test_signed_webhook_is_stored_once_even_when_delivered_twice(
    integration_app: Deployment,
) -> None:
    hook = await register_hook(integration_app)
    body = orjson.dumps({"id": "evt_1001", "type": "order.paid", "amount": 15000})
    first = await integration_app.http.post(f"/webhooks/{hook}", content=body, headers=signed(body))
    again = await integration_app.http.post(f"/webhooks/{hook}", content=body, headers=signed(body))

    assert first.status_code in (200, 202), first.text
    assert again.status_code in (200, 202), again.text
    (event,) = await events(integration_app, hook)
    assert (event["event_id"], event["event_type"]) == ("evt_1001", "order.paid")
    assert event["data"]["amount"] == 15000


async def test_webhook_event_id_comes_from_the_header_else_the_body_hash(
    integration_app: Deployment,
) -> None:
    hook = await register_hook(integration_app)
    with_header = orjson.dumps({"event": "ticket.closed"})
    anonymous = b'{"note": "no id here"}'
    headers = {**signed(with_header), "X-Event-Id": "hdr-77"}
    await integration_app.http.post(f"/webhooks/{hook}", content=with_header, headers=headers)
    await integration_app.http.post(
        f"/webhooks/{hook}", content=anonymous, headers=signed(anonymous)
    )

    found = {e["event_id"]: e["event_type"] for e in await events(integration_app, hook)}
    assert found == {"hdr-77": "ticket.closed", hashlib.sha256(anonymous).hexdigest(): "webhook"}


@pytest.mark.parametrize(
    "case", ["wrong_secret", "stale", "future", "tampered", "unsigned", "no_sha256_prefix"]
)
async def test_unverifiable_webhook_is_refused_and_not_stored(
    integration_app: Deployment, case: str
) -> None:
    hook = await register_hook(integration_app)
    body = orjson.dumps({"id": f"evt_{case}", "type": "order.paid"})
    headers = {
        "wrong_secret": signed(body, secret="guessed"),
        "stale": signed(body, age=301),
        "future": signed(body, age=-400),
        "tampered": signed(b'{"id": "evt_other"}'),
        "unsigned": {"Content-Type": "application/json"},
        "no_sha256_prefix": {k: v.removeprefix("sha256=") for k, v in signed(body).items()},
    }[case]
    response = await integration_app.http.post(f"/webhooks/{hook}", content=body, headers=headers)

    assert response.status_code == 401
    assert await events(integration_app, hook) == []
