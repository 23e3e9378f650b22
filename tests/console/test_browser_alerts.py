"""The alerts pages in Debian's Chromium: a rule fires and its alert appears without a reload
(server-sent events) while the keyboard focus stays put, one click silences it, the silence
is shown and expired; a rule form with the service's error next to the field; a channel made
in the form and tested. Screenshots of each page go to ``.artifacts/console/alerts-*.png``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console.alerts_support import (
    Receiver,
    Unique,
    firing_rule,
    monitoring_api,
    rule_name,
)
from tests.console.stack import ADMIN, Stack
from tests.console.test_browser import ARTIFACTS, Window, chromium  # noqa: F401 (fixture)


@pytest.fixture
def window(chromium: object, stack: Stack) -> Iterator[Window]:  # noqa: F811
    opened = Window(chromium, stack, width=1280, height=800)
    yield opened
    opened.close()
    assert opened.problems == []


def shot(window: Window, name: str) -> None:
    """The viewport at 1280×800, as docs/console.md shows it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    window.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_an_alert_fires_live_is_silenced_in_one_click_and_expired(
    window: Window, stack: Stack, unique: Unique
) -> None:
    api = monitoring_api(stack)
    window.sign_in(*ADMIN)
    page = window.page
    window.open("/alerts")
    page.evaluate("() => { window.sameDocument = true; }")
    name = rule_name(unique, "browser_cpu")
    team = unique("billing")
    pushed = {"alertname": "QueueWaitHigh", "severity": "warning", "queue": team}
    summary = "Contacts wait over 60 s in the billing queue"
    api("POST", "/api/v2/alerts", json=[{"labels": pushed, "annotations": {"summary": summary}}])
    try:
        with firing_rule(api, name, "CPU usage is {{ $value }} %"):
            row = f'tr[data-name="{name}"][data-state="firing"]'
            page.wait_for_selector(row, timeout=20_000)
            page.wait_for_selector(f'tr[data-alert] code:has-text("{team}")')
            assert page.evaluate("() => window.sameDocument === true")  # no reload: live
            button = page.locator(f"{row} button[id^=silence-]")
            button_id = button.get_attribute("id")
            button.focus()
            before = page.get_attribute(".alert-counts", "data-updated")
            page.wait_for_function(
                "(b) => document.querySelector('.alert-counts').dataset.updated !== b",
                arg=before,
                timeout=10_000,
            )
            assert page.evaluate("() => document.activeElement.id") == button_id
            shot(window, "alerts")

            page.keyboard.press("Enter")
            page.wait_for_url("**/alerts/silences?created=*")
            created = page.locator("tr.alert-row-new")
            assert f'alertname="{name}"' in created.inner_text()
            assert ADMIN[0] in created.inner_text()
            assert page.locator("[role=status]").inner_text() == "사일런스를 만들었습니다."
            silence_id = created.get_attribute("data-silence")
            shot(window, "alerts-silences")

            page.once("dialog", lambda dialog: dialog.accept())
            created.locator("button", has_text="만료").click()
            page.wait_for_selector(
                f'section[data-silences="expired"] tr[data-silence="{silence_id}"]'
            )
            assert (
                api("GET", f"/alerts/silences/{silence_id}").json()["status"]["state"] == "expired"
            )

            window.open("/alerts/history?state=any")
            shot(window, "alerts-history")
    finally:
        ended = [{"labels": pushed, "endsAt": "2000-01-01T00:00:00Z"}]
        api("POST", "/api/v2/alerts", json=ended)


def test_rules_and_channels_in_the_browser(window: Window, stack: Stack, unique: Unique) -> None:
    receiver = Receiver()
    api = monitoring_api(stack)
    channel = unique("ops-webhook")
    try:
        window.sign_in(*ADMIN)
        page = window.page
        window.open("/alerts/rules")
        page.click("text=새 규칙")
        page.fill("#rule_name", rule_name(unique, "browser_rule"))
        page.fill("#metric", "queue_wait_seconds_nope")
        page.fill("#threshold", "60")
        page.fill("#for", "2m")
        page.click("button:has-text('저장')")
        error = page.locator("#metric-error")
        assert "Unknown metric" in error.inner_text()
        assert page.get_attribute("#metric", "aria-invalid") == "true"
        shot(window, "alerts-rule-form")
        window.open("/alerts/rules")
        page.wait_for_selector('tr[data-rule="cpu_usage_high"]')
        shot(window, "alerts-rules")

        window.open("/alerts/channels")
        page.click("text=웹훅")
        page.fill("#name", channel)
        page.fill("#setting-url", f"{receiver.url}/hooks/T123/secret")
        page.fill("#setting-headers", "Authorization: Bearer s3cret")
        page.click("button:has-text('저장')")
        page.wait_for_url("**/alerts/channels")
        page.click(f'tr[data-channel="{channel}"] button:has-text("테스트")')
        result = page.locator("[data-testid=test-result]")
        assert result.get_attribute("data-sent") == "true"
        assert receiver.received and receiver.received[-1][0]["Authorization"] == "Bearer s3cret"
        assert "s3cret" not in page.content()
        shot(window, "alerts-channels")

        page.set_viewport_size({"width": 768, "height": 1024})
        for path in ("/alerts", "/alerts/silences", "/alerts/rules", "/alerts/channels"):
            window.open(path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 768, path
    finally:
        api("DELETE", f"/alerts/channels/{channel}")
        receiver.close()
