"""The users pages in a real browser (the system Chromium): find a user, open them, change
their role by clicking and see it saved (and at the auth service), then find it in the
audit log; the pages at a tablet's width. Screenshots go to ``.artifacts/console/``: the
full page, and the 1280x800 view (``*-view.png``, what ``docs/console/`` shows, copied there
by hand)."""

from __future__ import annotations

from collections.abc import Callable

from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.test_browser import ARTIFACTS, Window, chromium, window

__all__ = ["chromium", "window"]  # the fixtures


def shoot(window: Window, name: str) -> None:
    """The full page and the 1280x800 view."""
    window.shot(name)
    window.page.screenshot(path=str(ARTIFACTS / f"{name}-view.png"))


def test_change_a_role_by_clicking_and_find_it_in_the_audit_log(
    window: Window, chromium: object, stack: Stack, unique: Callable[[str], str]
) -> None:
    name = unique("clicked")
    user_id = stack.create_user(name, ["AGENT"], first_name="서연", last_name="박")
    for prefix, role, first, last in (
        ("jiho", "SUPERVISOR", "지호", "김"),
        ("minji", "AGENT", "민지", "이"),
        ("hyun", "VIEWER", "현우", "최"),
    ):
        stack.create_user(unique(prefix), [role], first_name=first, last_name=last)
    page = window.page
    window.sign_in(*ADMIN)

    window.open("/users")
    page.fill("#q", name)
    page.press("#q", "Enter")
    page.wait_for_url("**/users?q=*")
    assert page.locator("tbody tr").count() == 1
    window.open("/users")
    shoot(window, "users")

    window.open(f"/users?q={name}")
    page.click(f"text={name}")
    page.wait_for_url(f"**/users/{user_id}")
    assert page.is_checked("input[data-role=AGENT]")
    assert page.is_disabled("input[data-role=SUPER_ADMIN]")
    page.uncheck("input[data-role=AGENT]")
    page.check("input[data-role=SUPERVISOR]")
    page.click("text=역할 저장")
    page.wait_for_selector("text=역할을 저장했습니다.")

    assert page.url.endswith(f"/users/{user_id}")
    assert page.is_checked("input[data-role=SUPERVISOR]")
    assert not page.is_checked("input[data-role=AGENT]")
    assert page.inner_text("[data-testid=user-roles]").split() == ["SUPERVISOR"]
    admin = stack.api_token(*ADMIN)
    assert stack.api("GET", "auth", f"/auth/users/{user_id}", admin).json()["roles"] == [
        "SUPERVISOR"
    ]
    stack.api_token(name, PASSWORD)  # a session, for the sessions table
    page.reload()
    shoot(window, "users-detail")

    page.click("text=이 사용자에 대한 감사 기록")
    page.wait_for_url("**/audit?target=*")
    row = page.locator("tr", has_text="역할 변경")
    assert row.count() == 1
    assert "SUPERVISOR" in row.inner_text()
    page.select_option("#action", "user_created")
    page.click("text=적용")
    page.wait_for_url("**action=user_created*")
    assert page.locator("tbody tr").count() == 1
    window.open("/audit")
    shoot(window, "audit")

    tablet = Window(chromium, stack, width=768, height=1024)
    try:
        tablet.sign_in(*ADMIN)
        for path in ("/users", f"/users/{user_id}", "/audit"):
            tablet.open(path)
            width = tablet.page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 768, path
        tablet.shot("users-detail-tablet")
    finally:
        tablet.close()
    assert tablet.problems == []
