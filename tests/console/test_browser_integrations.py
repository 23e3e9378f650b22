"""The integrations pages in Chromium: the list, a health check, a dead letter replayed by
clicking, and a test send filled in the form built from the method's parameters; every
control labelled, no horizontal scrolling at a tablet's width. Screenshots go to
``.artifacts/console/`` (the docs show those of the list, the detail, the dead letters and
the test send, from ``docs/console/``)."""

from __future__ import annotations

from tests.console.integrations_support import Integrations, StandIn, integrations, standin
from tests.console.stack import ADMIN, Stack
from tests.console.test_browser import ARTIFACTS, Window, chromium, window

__all__ = ["chromium", "integrations", "standin", "window"]  # the fixtures
UNLABELLED = """(root) => Array.from(root.querySelectorAll(
  'input:not([type=hidden]), select, textarea')).filter((e) => e.labels.length === 0)
  .map((e) => e.name)"""


def shot(window: Window, name: str) -> None:
    """The 1280x800 view (what ``docs/console/`` shows, copied there by hand) and the full
    page (``-full``)."""
    window.shot(f"{name}-full")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    window.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def labelled(window: Window, selector: str) -> None:
    missing = window.page.eval_on_selector(selector, UNLABELLED)
    assert missing == []


def test_integrations_in_the_browser(
    window: Window, chromium: object, stack: Stack, integrations: Integrations, standin: StandIn
) -> None:
    integration_id = integrations.register("주문 API (Orders)")
    integrations.trip(integrations.register("Flaky partner", options={"breaker_threshold": 1}))
    message_id, path = integrations.dead_letter(integration_id)
    integrations.send_async(integration_id, "welcome")
    integrations.wait_status(
        integration_id, integrations.send_async(integration_id, "hi"), "delivered"
    )
    base = f"/integrations/{integration_id}"
    page = window.page
    window.sign_in(*ADMIN)

    window.open("/integrations")
    page.click(f"tr[data-integration='{integration_id}'] a")
    page.wait_for_url(f"**{base}")
    page.click("text=지금 확인")
    page.wait_for_selector("[data-health='healthy']")
    shot(window, "integrations-detail")
    window.open("/integrations")
    shot(window, "integrations-list")

    window.open(f"{base}/dead-letters")
    row = page.locator(f"tr[data-message='{message_id}']")
    assert row.count() == 1
    shot(window, "integrations-dead-letters")
    row.get_by_role("link", name=f"메시지 {message_id} 폐기").click()
    page.wait_for_selector("button[name=confirm][value=yes]")
    shot(window, "integrations-discard-confirm")
    page.click("text=취소")
    page.wait_for_url(f"**{base}/dead-letters")
    row.locator("a code").click()
    page.wait_for_selector("[data-testid=payload]")
    assert page.locator("[data-status=dead]").count() == 1
    shot(window, "integrations-message")
    page.go_back()
    row.get_by_role("button", name=f"메시지 {message_id} 다시 보내기").click()
    page.wait_for_selector("text=메시지를 다시 보내도록 대기열에 넣었습니다.")
    integrations.wait_status(integration_id, message_id, "delivered")
    assert standin.calls(f"/api/v1/{path}") == 2
    page.reload()
    assert page.locator(f"tr[data-message='{message_id}']").count() == 0

    window.open(f"{base}/send")
    form = "[data-testid=send-form]"
    labelled(window, form)
    page.select_option("#arg-http_method", "PUT")
    page.fill("#arg-path", "customers/42")
    page.fill("#arg-query", '{"notify": true}')
    page.fill("#arg-json", '{"name": "김민지", "tier": "gold"}')
    page.check("input[name=message_type][value=sync]")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[data-outcome=sync]")
    answer = page.inner_text("[data-testid=answer]")
    assert '"path": "/api/v1/customers/42"' in answer
    assert '"김민지"' in answer
    assert page.input_value("#arg-path") == "customers/42"  # the form keeps what was sent
    sent = standin.fake.calls("/api/v1/customers/42")[0]
    assert (sent.method, sent.query, sent.json()) == (
        "PUT",
        "notify=true",
        {"name": "김민지", "tier": "gold"},
    )
    shot(window, "integrations-send")

    tablet = Window(chromium, stack, width=768, height=1024)
    try:
        tablet.sign_in(*ADMIN)
        for target in ("/integrations", base, f"{base}/send"):
            tablet.open(target)
            width = tablet.page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 768, target
    finally:
        tablet.close()
    assert tablet.problems == []
