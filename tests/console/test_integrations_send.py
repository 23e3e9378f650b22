"""The test send over HTTP: a form built from the method's parameters, a SYNC answer, a
resent form not sent twice, argument problems shown by the field, a provider's failure and
then the open breaker. Integrations point at a REST stand-in that records every request and
fails on demand."""

from __future__ import annotations

import re

from tests.console.integrations_support import (
    Integrations,
    StandIn,
    admin,
    integrations,
    standin,
    state_in,
)
from tests.console.support import Browser

__all__ = ["integrations", "standin"]  # the fixtures


def test_a_sync_test_send_shows_the_providers_answer_and_a_resend_is_not_sent_again(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register()
    admin(browser)
    form = browser.get(f"/integrations/{integration_id}/send")
    assert form.status_code == 200
    for name in ("http_method", "path", "query", "json", "headers"):
        assert f'name="arg.{name}"' in form.text
    assert '<select id="arg-http_method" name="arg.http_method"' in form.text
    assert '<option value="PATCH">PATCH</option>' in form.text
    assert '<textarea id="arg-json" name="arg.json"' in form.text
    message_id = re.search(r'name="message_id" value="([^"]+)"', form.text)
    assert message_id
    fields = {
        "method": "request",
        "message_id": message_id[1],
        "message_type": "sync",
        "arg.http_method": "POST",
        "arg.path": "orders",
        "arg.json": '{"order": 7, "note": "안녕"}',
        "arg.query": "",
    }

    answer = browser.post(f"/integrations/{integration_id}/send", fields)

    assert answer.status_code == 200
    assert 'data-outcome="sync"' in answer.text
    assert "&#34;path&#34;: &#34;/api/v1/orders&#34;" in answer.text
    assert "&#34;order&#34;: 7" in answer.text
    assert 'data-status="delivered"' in answer.text
    assert standin.calls("/api/v1/orders") == 1
    sent = standin.fake.calls("/api/v1/orders")[0]
    assert sent.json() == {"order": 7, "note": "안녕"}
    assert sent.headers["idempotency-key"] == message_id[1]

    again = browser.post(f"/integrations/{integration_id}/send", fields)

    assert "&#34;order&#34;: 7" in again.text
    assert standin.calls("/api/v1/orders") == 1
    assert browser.get(f"/integrations/{integration_id}").text.count("<tr data-message=") == 1


def test_argument_problems_are_shown_by_the_field(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register()
    admin(browser).get(f"/integrations/{integration_id}/send")
    base = {"method": "request", "message_type": "sync", "arg.http_method": "POST"}

    local = browser.post(f"/integrations/{integration_id}/send", {**base, "arg.json": "{not json"})
    browser.get(f"/integrations/{integration_id}/send")
    remote = browser.post(
        f"/integrations/{integration_id}/send", {**base, "arg.path": "../../admin"}
    )

    assert local.status_code == 422
    assert 'id="arg-json-error">올바른 JSON 을 입력하세요.' in local.text
    assert "{not json</textarea>" in local.text  # kept for correcting
    assert remote.status_code == 422
    assert 'id="arg-path-error">' in remote.text
    assert 'name="arg.path" type="text" value="../../admin"' in remote.text
    assert standin.calls("/admin") == 0
    assert len([r for r in standin.fake.requests if "admin" in r.path]) == 0


def test_a_failed_sync_send_shows_the_providers_failure_then_the_open_breaker(
    browser: Browser, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register(options={"breaker_threshold": 1})
    standin.fail("/api/v1/payments", status=503)
    admin(browser).get(f"/integrations/{integration_id}/send")
    fields = {"method": "request", "message_type": "sync", "arg.path": "payments"}

    failed = browser.post(f"/integrations/{integration_id}/send", fields)
    browser.get(f"/integrations/{integration_id}/send")
    held = browser.post(f"/integrations/{integration_id}/send", fields)

    assert failed.status_code == 200
    assert 'data-outcome="provider_error"' in failed.text
    assert "<dt><code>provider_status</code></dt><dd>503</dd>" in failed.text
    assert "<dt><code>outcome</code></dt><dd>retryable</dd>" in failed.text
    recorded = re.search(r'<a href="([^"]+)">기록된 메시지 보기', failed.text)
    assert recorded
    assert 'data-status="dead"' in browser.get(recorded[1]).text
    assert 'data-outcome="refused"' in held.text
    assert "차단기가 열렸습니다" in held.text
    assert "circuit_open" in held.text
    assert standin.calls("/api/v1/payments") == 1
    assert state_in(browser.get("/integrations").text, integration_id) == "breaker_open"
