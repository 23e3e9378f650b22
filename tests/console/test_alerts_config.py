"""Alert rules and notification channels through the console over HTTP: create, edit,
delete, the service's validation errors next to the fields, secrets masked, a test
notification through a webhook receiver."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.console.alerts_support import (
    XSS,
    XSS_ESCAPED,
    Api,
    Receiver,
    Unique,
    field_error,
    last_page,
    monitoring_api,
    post_form,
    row,
    rule_form,
    rule_name,
)
from tests.console.stack import ADMIN, Stack
from tests.console.support import Browser


@pytest.fixture
def admin(browser: Browser) -> Browser:
    browser.sign_in_ok(*ADMIN)
    return browser


@pytest.fixture
def api(stack: Stack) -> Api:
    """The monitoring API as the admin (to set up and to check what the console did)."""
    return monitoring_api(stack)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


class TestRules:
    def test_create_edit_and_delete_through_the_form(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        name = rule_name(unique, "console_rule")
        channel = unique("rule-channel")
        made = api(
            "POST",
            "/alerts/channels",
            json={"name": channel, "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}},
        )
        assert made.status_code == 201, made.text
        admin.get("/alerts/rules/new")
        assert f'value="{channel}"' in last_page(admin)

        fields = [*rule_form(name, summary=XSS).items(), ("channels", channel)]
        created = post_form(admin, "/alerts/rules", fields)

        assert created.status_code == 303, created.text
        stored = api("GET", f"/alerts/rules/{name}").json()
        assert stored["metric"] == "system_cpu_usage_percent"
        assert (stored["threshold"], stored["for_seconds"], stored["channels"]) == (
            95,
            300,
            [channel],
        )
        assert stored["annotations"]["runbook_url"] == "https://runbooks.example.com/cpu"
        listed = row(admin.follow("/alerts/rules").text, "data-rule", name)
        assert "<code>system_cpu_usage_percent &gt; 95</code>" in listed
        assert XSS_ESCAPED in listed and XSS not in listed
        assert f'<span class="tag">{channel}</span>' in listed

        edit = admin.get(f"/alerts/rules/{name}/edit").text
        assert 'id="for" name="for" type="text" value="5m"' in edit
        assert "runbook_url=https://runbooks.example.com/cpu</textarea>" in edit
        changed = post_form(
            admin,
            f"/alerts/rules/{name}/edit",
            [*rule_form("renamed", threshold="90", level="critical", summary="x").items()],
        )

        assert changed.status_code == 303, changed.text
        stored = api("GET", f"/alerts/rules/{name}").json()
        assert (stored["threshold"], stored["level"], stored["channels"]) == (90, "critical", [])
        assert api("GET", "/alerts/rules/renamed").status_code == 404

        admin.get("/alerts/rules")
        deleted = admin.post(f"/alerts/rules/{name}/delete")

        assert deleted.status_code == 303
        assert api("GET", f"/alerts/rules/{name}").status_code == 404
        assert f'data-rule="{name}"' not in admin.follow("/alerts/rules").text
        api("DELETE", f"/alerts/channels/{channel}")

    def test_the_services_validation_errors_are_shown_next_to_the_fields(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        name = rule_name(unique, "console_bad")
        admin.get("/alerts/rules/new")

        unknown = admin.post("/alerts/rules", rule_form(name, metric="no_such_metric"))
        assert unknown.status_code == 422
        assert "Unknown metric 'no_such_metric'" in field_error(unknown.text, "metric")
        assert "<li><code>system_cpu_usage_percent</code></li>" in unknown.text
        assert 'id="metric" name="metric" type="text" value="no_such_metric"' in unknown.text

        wrong = admin.post(
            "/alerts/rules",
            rule_form(name, threshold="lots", labels="no pair here", **{"for": "-1"}),
        )
        assert wrong.status_code == 422
        assert field_error(wrong.text, "labels") == "name=value 형식이 아닙니다: no pair here"
        wrong = admin.post("/alerts/rules", rule_form(name, threshold="lots", **{"for": "-1"}))
        assert "valid number" in field_error(wrong.text, "threshold")
        assert "greater than or equal to 0" in field_error(wrong.text, "for")
        assert 'aria-invalid="true" aria-describedby="threshold-error"' in wrong.text

        hostile = admin.post("/alerts/rules", rule_form(XSS))
        assert hostile.status_code == 422
        assert "should match pattern" in field_error(hostile.text, "rule_name")
        assert f'value="{XSS_ESCAPED}"' in hostile.text
        assert XSS not in hostile.text

        assert api("GET", f"/alerts/rules/{name}").status_code == 404
        assert admin.post("/alerts/rules", rule_form(name)).status_code == 303
        admin.get("/alerts/rules/new")
        again = admin.post("/alerts/rules", rule_form(name))
        assert field_error(again.text, "rule_name") == "같은 이름의 규칙이 이미 있습니다."
        api("DELETE", f"/alerts/rules/{name}")


class TestChannels:
    def test_create_test_edit_and_delete_a_webhook_with_secrets_masked(
        self,
        admin: Browser,
        api: Api,
        receiver: Receiver,
        unique: Unique,
    ) -> None:
        name = unique("hook")
        admin.get("/alerts/channels/new?type=webhook")
        created = admin.post(
            "/alerts/channels",
            {
                "type": "webhook",
                "name": name,
                "setting-url": f"{receiver.url}/hooks/secret-path-123",
                "setting-headers": "Authorization: Bearer s3cret-value",
                "setting-max_alerts": "",
                "send_resolved": "on",
            },
        )
        assert created.status_code == 303, created.text
        page = admin.follow("/alerts/channels").text
        listed = row(page, "data-channel", name)
        assert f"<code>{receiver.url}/hooks/***</code>" in listed
        assert "secret-path-123" not in page and "s3cret-value" not in page

        tested = admin.post(f"/alerts/channels/{name}/test")

        assert tested.status_code == 200
        assert 'data-testid="test-result" data-sent="true"' in tested.text
        assert f"{name} 채널로 테스트 알림을 보냈습니다" in tested.text
        headers, body = receiver.received[-1]
        assert headers["Authorization"] == "Bearer s3cret-value"
        assert b"AICCTestNotification" in body

        edit = admin.get(f"/alerts/channels/{name}/edit").text
        assert "Authorization: ***</textarea>" in edit and "s3cret-value" not in edit
        form = dict(re.findall(r'name="(setting-[a-z_]+)"[^>]*value="([^"]*)"', edit))
        saved = admin.post(
            f"/alerts/channels/{name}/edit",
            {
                "type": "webhook",
                "name": "ignored",
                "setting-url": html.unescape(form["setting-url"]),
                "setting-headers": "Authorization: ***\nX-Team: ops",
                "setting-max_alerts": "5",
            },
        )
        assert saved.status_code == 303, saved.text
        stored = api("GET", f"/alerts/channels/{name}").json()
        assert stored["send_resolved"] is False and stored["settings"]["max_alerts"] == 5
        admin.get("/alerts/channels")
        admin.post(f"/alerts/channels/{name}/test")
        headers, _ = receiver.received[-1]
        assert (headers["Authorization"], headers["X-Team"]) == ("Bearer s3cret-value", "ops")

        admin.get("/alerts/channels")
        deleted = admin.post(f"/alerts/channels/{name}/delete")
        assert deleted.status_code == 303
        assert api("GET", f"/alerts/channels/{name}").status_code == 404

    def test_a_failed_test_and_each_types_errors_next_to_the_fields(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        name = unique("nowhere")
        closed = Receiver()
        closed.close()  # nothing listens there any more
        admin.get("/alerts/channels/new?type=webhook")
        assert (
            admin.post(
                "/alerts/channels", {"type": "webhook", "name": name, "setting-url": closed.url}
            ).status_code
            == 303
        )
        admin.get("/alerts/channels")

        failed = admin.post(f"/alerts/channels/{name}/test")

        assert 'data-testid="test-result" data-sent="false"' in failed.text
        assert f"{name} 채널로 테스트 알림을 보내지 못했습니다" in failed.text
        assert "일시적인 오류" in failed.text
        api("DELETE", f"/alerts/channels/{name}")

        for kind, fields, field in [
            ("slack", {"setting-webhook_url": "not a url"}, "setting-webhook_url"),
            ("pagerduty", {"setting-routing_key": "short"}, "setting-routing_key"),
            ("sns", {"setting-topic_arn": "arn:nope"}, "setting-topic_arn"),
            (
                "ses",
                {"setting-from": "ops@example.com", "setting-to": "not-an-address"},
                "setting-to",
            ),
            ("webhook", {"setting-url": "ftp://example.com/x"}, "setting-url"),
        ]:
            admin.get(f"/alerts/channels/new?type={kind}")
            refused = admin.post("/alerts/channels", {"type": kind, "name": name, **fields})
            assert refused.status_code == 422, kind
            assert field_error(refused.text, field), kind
        admin.get("/alerts/channels/new?type=slack")
        nameless = admin.post("/alerts/channels", {"type": "slack", "name": "<b>x</b>"})
        assert "should match pattern" in field_error(nameless.text, "name")
        assert "webhook_url" in nameless.text  # its missing webhook URL too
        assert api("GET", f"/alerts/channels/{name}").status_code == 404

    def test_every_type_can_be_created_and_is_listed(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        made = {
            "slack": {
                "setting-webhook_url": "http://127.0.0.1:9/services/T0/B0/abcdef",
                "setting-channel": "#ops",
            },
            "pagerduty": {
                "setting-routing_key": "0123456789abcdef0123456789abcdef",
                "setting-url": "http://127.0.0.1:9/v2/enqueue",  # no DNS needed
                "setting-severity": "warning=error",
            },
            "sns": {"setting-topic_arn": "arn:aws:sns:ap-northeast-2:123456789012:aicc-alerts"},
            "ses": {
                "setting-from": "alerts@example.com",
                "setting-to": "a@example.com\nb@example.com",
            },
        }
        names = {kind: unique(kind) for kind in made}
        for kind, fields in made.items():
            admin.get(f"/alerts/channels/new?type={kind}")
            done = admin.post("/alerts/channels", {"type": kind, "name": names[kind], **fields})
            assert done.status_code == 303, (kind, done.text)
        page = admin.follow("/alerts/channels").text
        assert "<code>http://127.0.0.1:9/services/T…/***</code>" in row(
            page, "data-channel", names["slack"]
        )
        assert "<code>***cdef</code>" in row(page, "data-channel", names["pagerduty"])
        assert "aicc-alerts</code>" in row(page, "data-channel", names["sns"])
        assert "<code>a@example.com, b@example.com</code>" in row(
            page, "data-channel", names["ses"]
        )
        for name in names.values():
            api("DELETE", f"/alerts/channels/{name}")
