"""The integrations pages over HTTP: the list with each integration's state, the health
check, settings with secrets masked, the message log's cursor, inbound events, an ASYNC
message sent from the test-send form that dies and is replayed, discard after confirmation,
CSRF, what a VIEWER may do, and an integration's name shown inert. Integrations point at a REST
stand-in that records every request and fails on demand."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import Callable

import httpx2

from tests.console.integrations_support import (
    Integrations,
    StandIn,
    admin,
    integrations,
    standin,
    state_in,
)
from tests.console.stack import PASSWORD, Stack
from tests.console.support import Browser

__all__ = ["integrations", "standin"]  # the fixtures
Unique = Callable[[str], str]
XSS_NAME = "<script>alert('integration')</script><img src=x onerror=alert(1)>"


def test_the_list_shows_each_integrations_state_without_calling_providers(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    healthy = integrations.register("Orders API")
    tripped = integrations.register("Flaky API", options={"breaker_threshold": 1})
    refused = integrations.register(
        "Token API",
        auth_type="oauth2",
        auth_config={
            "client_id": standin.fake.client_id,
            "client_secret": "not-the-secret",
            "token_url": f"{standin.url}/oauth/token",
        },
    )
    integrations.trip(tripped)
    admin(browser)
    before = len(standin.fake.requests)

    listing = browser.get("/integrations")

    assert listing.status_code == 200
    assert state_in(listing.text, healthy) == "healthy"
    assert state_in(listing.text, tripped) == "breaker_open"
    assert state_in(listing.text, refused) == "healthy"  # nothing has tried its credentials
    assert len(standin.fake.requests) == before  # the list calls no provider
    assert '<a href="/integrations" aria-current="page">' in listing.text

    checked = browser.get(f"/integrations/{refused}/health")

    assert checked.status_code == 200
    assert 'data-health="needs_reauth"' in checked.text
    assert "invalid_client" in checked.text
    assert state_in(browser.get("/integrations").text, refused) == "needs_reauth"
    ok = browser.get(f"/integrations/{healthy}/health")
    assert 'data-health="healthy"' in ok.text
    assert standin.calls("/api/v1") == 1  # the health check's one call


def test_the_detail_shows_settings_with_secrets_masked(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register(
        "Keyed API", auth_type="api_key", auth_config={"api_key": "sk-live-very-secret"}
    )
    integrations.send_async(integration_id, "first")

    page = admin(browser).get(f"/integrations/{integration_id}")

    assert page.status_code == 200
    assert "sk-live-very-secret" not in page.text
    assert '<code>api_key</code></dt><dd class="endpoint">***</dd>' in page.text
    assert f"{standin.url}/api/v1" in page.text
    assert 'data-testid="messages"' in page.text
    assert ">request<" in page.text


def test_messages_are_paged_with_a_cursor(browser: Browser, integrations: Integrations) -> None:
    integration_id = integrations.register()
    ids = [integrations.send_async(integration_id, f"p{i}") for i in range(22)]
    admin(browser)

    first = browser.get(f"/integrations/{integration_id}")
    shown = re.findall(r'<tr data-message="([^"]+)">', first.text)
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older
    second = browser.get(html.unescape(older[1]))
    more = re.findall(r'<tr data-message="([^"]+)">', second.text)

    assert len(shown) == 20
    assert set(shown) | set(more) == set(ids)
    assert not set(shown) & set(more)
    assert f'href="/integrations/{integration_id}"' in second.text  # back to the newest


def test_inbound_events_are_listed_and_shown_inert(
    browser: Browser, integrations: Integrations, stack: Stack
) -> None:
    secret = "whsec-console-5d1a"
    integration_id = integrations.register(auth_config={"webhook_secret": secret})
    body = json.dumps(
        {"id": "evt-1", "type": "order.paid", "note": "<script>alert('event')</script>"}
    ).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    received = httpx2.post(
        f"{stack.service_url('integration')}/webhooks/{integration_id}",
        content=body,
        headers={"X-Timestamp": stamp, "X-Signature": f"sha256={mac}"},
        timeout=10,
    )
    assert received.status_code == 200, received.text

    page = admin(browser).get(f"/integrations/{integration_id}/events")

    assert page.status_code == 200
    assert '<tr data-event="evt-1">' in page.text
    assert "order.paid" in page.text
    assert "<script>alert('event')" not in page.text
    assert "&lt;script&gt;alert(&#39;event&#39;)&lt;/script&gt;" in page.text
    assert "whsec-console-5d1a" not in browser.get(f"/integrations/{integration_id}").text


def test_an_async_message_that_dies_is_replayed_and_delivered(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register()
    standin.fail("/api/v1/refunds")
    admin(browser).get(f"/integrations/{integration_id}/send")

    queued = browser.post(
        f"/integrations/{integration_id}/send",
        {
            "method": "request",
            "message_type": "async",
            "arg.http_method": "POST",
            "arg.path": "refunds",
            "arg.json": '{"amount": 5000}',
        },
    )

    assert 'data-outcome="queued"' in queued.text
    link = re.search(r'<a href="([^"]+)" data-testid="queued-message"><code>([^<]+)<', queued.text)
    assert link
    message_id = link[2]
    integrations.wait_status(integration_id, message_id, "dead")
    dead = browser.get(f"/integrations/{integration_id}/dead-letters")
    assert f'<tr data-message="{message_id}">' in dead.text
    assert "<code>http_503</code>" in dead.text
    message = browser.get(link[1])
    assert 'data-status="dead"' in message.text
    assert "&#34;amount&#34;: 5000" in message.text

    replayed = browser.post(f"/integrations/{integration_id}/dead-letters/{message_id}/replay")

    assert replayed.status_code == 303
    assert replayed.headers["location"] == f"/integrations/{integration_id}/dead-letters"
    after = browser.get(replayed.headers["location"])
    assert "메시지를 다시 보내도록 대기열에 넣었습니다." in after.text
    integrations.wait_status(integration_id, message_id, "delivered")
    assert standin.calls("/api/v1/refunds") == 2
    assert f'<tr data-message="{message_id}">' not in browser.get(replayed.headers["location"]).text
    shown = browser.get(link[1])
    assert 'data-status="delivered"' in shown.text
    assert "&#34;status_code&#34;: 201" in shown.text


def test_discard_asks_first_then_removes_the_dead_letter(
    browser: Browser, integrations: Integrations
) -> None:
    integration_id = integrations.register()
    message_id, _ = integrations.dead_letter(integration_id)
    dead_letters = f"/integrations/{integration_id}/dead-letters"
    listing = admin(browser).get(dead_letters)
    confirm_path = f"{dead_letters}/{message_id}/discard"
    assert f'href="{confirm_path}"' in listing.text

    one_click = browser.post(confirm_path)

    assert one_click.status_code == 303
    assert one_click.headers["location"] == confirm_path
    assert integrations.status(integration_id, message_id) == "dead"
    confirm = browser.get(confirm_path)
    assert confirm.status_code == 200
    assert 'name="confirm" value="yes"' in confirm.text

    discarded = browser.post(confirm_path, {"confirm": "yes"})

    assert discarded.status_code == 303
    assert integrations.status(integration_id, message_id) == "discarded"
    after = browser.get(dead_letters)
    assert "메시지를 폐기했습니다." in after.text
    assert f'data-message="{message_id}"' not in after.text
    browser.get(dead_letters)
    late = browser.post(f"{dead_letters}/{message_id}/replay")
    assert (
        "이 메시지는 이미 다시 보냈거나 폐기되었습니다."
        in browser.get(late.headers["location"]).text
    )


def test_replay_and_discard_need_the_csrf_token_and_the_console_origin(
    browser: Browser, integrations: Integrations
) -> None:
    integration_id = integrations.register()
    message_id, _ = integrations.dead_letter(integration_id)
    replay = f"/integrations/{integration_id}/dead-letters/{message_id}/replay"
    admin(browser).get(f"/integrations/{integration_id}/dead-letters")

    without = browser.post(replay, csrf=None)
    foreign = browser.post(replay, origin="https://evil.example")
    wrong = browser.post(
        f"/integrations/{integration_id}/dead-letters/{message_id}/discard",
        {"confirm": "yes"},
        csrf="not-the-token",
    )
    browser.get(f"/integrations/{integration_id}/send")
    send = browser.post(f"/integrations/{integration_id}/send", {"method": "request"}, csrf=None)

    assert [r.status_code for r in (without, foreign, wrong, send)] == [403, 403, 403, 403]
    assert integrations.status(integration_id, message_id) == "dead"


def test_a_viewer_sees_integrations_but_cannot_send_replay_or_discard(
    browser: Browser,
    new_browser: Callable[..., Browser],
    integrations: Integrations,
    stack: Stack,
    unique: Unique,
    standin: StandIn,
) -> None:
    integration_id = integrations.register()
    message_id, path = integrations.dead_letter(integration_id)
    name = unique("viewer")
    stack.create_user(name, ["VIEWER"])
    viewer = new_browser()
    viewer.sign_in_ok(name, PASSWORD)
    base = f"/integrations/{integration_id}"

    listing = viewer.get("/integrations")
    dead = viewer.get(f"{base}/dead-letters")
    detail = viewer.get(base)

    assert listing.status_code == 200
    assert 'href="/integrations"' in listing.text
    assert dead.status_code == 200
    assert f'<tr data-message="{message_id}">' in dead.text
    assert "/replay" not in dead.text
    assert "/discard" not in dead.text
    assert f'href="{base}/send"' not in detail.text
    assert viewer.get(f"{base}/send").status_code == 403
    assert viewer.get(f"{base}/dead-letters/{message_id}/discard").status_code == 403
    viewer.get(f"{base}/dead-letters")
    refused = viewer.post(f"{base}/dead-letters/{message_id}/replay")
    assert refused.status_code == 403
    assert "이 페이지를 볼 권한이 없습니다." in refused.text
    viewer.get(f"{base}/dead-letters")
    assert (
        viewer.post(f"{base}/dead-letters/{message_id}/discard", {"confirm": "yes"}).status_code
        == 403
    )
    viewer.get(base)
    assert viewer.post(f"{base}/send", {"method": "request"}).status_code == 403
    assert integrations.status(integration_id, message_id) == "dead"
    assert standin.calls(f"/api/v1/{path}") == 1


def test_an_integration_name_is_shown_inert(browser: Browser, integrations: Integrations) -> None:
    integration_id = integrations.register(XSS_NAME)
    admin(browser)

    for path in (
        "/integrations",
        f"/integrations/{integration_id}",
        f"/integrations/{integration_id}/send",
    ):
        page = browser.get(path)
        assert page.status_code == 200
        assert "<script>alert('integration')" not in page.text
        assert "<img src=x onerror" not in page.text
        assert "&lt;script&gt;alert(&#39;integration&#39;)&lt;/script&gt;" in page.text


def test_english_pages(browser: Browser, integrations: Integrations) -> None:
    integration_id = integrations.register()
    browser.http.headers["Accept-Language"] = "en"
    admin(browser)

    listing = browser.get("/integrations")
    dead = browser.get(f"/integrations/{integration_id}/dead-letters")

    assert "<h1>Integrations</h1>" in listing.text
    assert ">Healthy<" in listing.text
    assert "No dead letters." in dead.text
