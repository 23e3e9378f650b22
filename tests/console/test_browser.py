"""The console in a real browser: Debian's Chromium driven by Playwright (the system browser,
never a downloaded build). Signs in, watches the overview's figures change by server-sent
events, moves through the page with the keyboard, and writes a screenshot of each page to
``.artifacts/console/``. Without Chromium the tests skip, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.support import totp_now

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts" / "console"
CHROMIUM = os.environ.get("AICC_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
Unique = Callable[[str], str]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


class Window:
    """One browser window (context and page) with what it reports kept for the checks."""

    def __init__(self, chromium: object, stack: Stack, *, width: int, height: int) -> None:
        self.stack = stack
        self.context = chromium.new_context(  # type: ignore[attr-defined]
            viewport={"width": width, "height": height}, locale="ko-KR"
        )
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))

    def _console(self, message: object) -> None:
        text = str(getattr(message, "text", ""))
        expected = text.startswith("Failed to load resource: the server responded with a status")
        if getattr(message, "type", "") in ("error", "warning") and not expected:
            self.problems.append(f"console: {text}")  # a CSP violation, a script error

    def open(self, path: str) -> None:
        self.page.goto(self.stack.url + path)

    def sign_in(self, username: str, password: str) -> None:
        self.open("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.press("#password", "Enter")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def focused(self) -> str:
        return str(
            self.page.evaluate(
                "() => { const e = document.activeElement;"
                " return (e.closest('nav.sidenav') ? 'nav:' : '') + e.tagName + ':'"
                " + (e.getAttribute('href') || e.className || e.id || ''); }"
            )
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def window(chromium: object, stack: Stack) -> Iterator[Window]:
    opened = Window(chromium, stack, width=1280, height=800)
    yield opened
    opened.close()
    assert opened.problems == []


@pytest.fixture
def demo_alert(stack: Stack) -> Iterator[str]:
    """A firing alert, so the overview's alert list has something in it."""
    admin = stack.api_token(*ADMIN)
    name = "console_demo_cpu_seen"
    created = stack.api(
        "POST",
        "monitoring",
        "/alerts/rules",
        admin,
        json={
            "rule_name": name,
            "metric": "cpu_usage_percent",
            "threshold": 0,
            "operator": ">=",
            "level": "warning",
            "for_seconds": 0,
            "annotations": {"summary": "CPU usage is {{ $value }} %"},
        },
    )
    assert created.status_code == 201, created.text
    yield name
    stack.api("DELETE", "monitoring", f"/alerts/rules/{name}", stack.api_token(*ADMIN))


def test_sign_in_and_watch_the_overview_change_live(
    window: Window, stack: Stack, demo_alert: str
) -> None:
    window.open("/login")
    window.shot("01-sign-in")
    assert window.focused() == "INPUT:username"  # autofocus

    window.sign_in(*ADMIN)

    page = window.page
    assert page.url == stack.url + "/"
    live = page.locator("[data-live-source]")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-live-source]').dataset.liveEvents) >= 2",
        timeout=20_000,
    )
    first = page.get_attribute(".figures", "data-updated")
    page.wait_for_function(
        "(before) => document.querySelector('.figures').dataset.updated !== before",
        arg=first,
        timeout=20_000,
    )
    assert int(live.get_attribute("data-live-events") or "0") >= 3
    page.wait_for_selector(f"text={demo_alert}", timeout=20_000)
    page.wait_for_selector('[data-service="auth"][data-state="ok"]')
    page.wait_for_selector('[data-figure="cpu"] polyline', state="attached")
    window.shot("02-overview")


def test_the_keyboard_reaches_the_navigation_and_the_content(window: Window) -> None:
    window.sign_in(*ADMIN)
    page = window.page
    page.keyboard.press("Tab")
    assert window.focused() == "A:#main"  # the skip link comes first
    assert page.locator(".skip-link").bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    page.evaluate("() => document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(15):
        page.keyboard.press("Tab")
        reached.append(window.focused())
        if reached[-1].startswith("nav:"):
            break
    assert reached[-1] == "nav:A:/", reached
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    for _ in range(12):  # through the pages the user may see, to their account
        page.keyboard.press("Tab")
        if window.focused() == "nav:A:/account":
            break
    assert window.focused() == "nav:A:/account"
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
    assert page.locator("h1").inner_text() == "내 계정"


def test_each_page_in_the_browser(
    window: Window, chromium: object, stack: Stack, unique: Unique
) -> None:
    window.sign_in(*ADMIN)
    for number, path in enumerate(
        ["/account", "/account/password", "/account/sessions", "/users", "/no-such-page"],
        start=3,
    ):
        window.open(path)
        window.shot(f"{number:02d}-{path.strip('/').replace('/', '-')}")
    viewer = unique("viewer")
    stack.create_user(viewer, ["VIEWER"])
    tablet = Window(chromium, stack, width=768, height=1024)
    try:
        tablet.sign_in(viewer, PASSWORD)
        tablet.page.wait_for_selector('[data-figure="cpu"]')
        width = tablet.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 768
        assert tablet.page.locator("nav.sidenav a[href='/users']").count() == 0
        tablet.shot("11-overview-tablet-viewer")
        tablet.open("/users")
        assert "이 페이지를 볼 권한이 없습니다." in tablet.page.inner_text("main")
        tablet.shot("12-not-allowed-viewer")
    finally:
        tablet.close()
    assert tablet.problems == []


def test_totp_enrolment_in_the_browser(window: Window, stack: Stack, unique: Unique) -> None:
    name = unique("enrols")
    stack.create_user(name, ["SUPERVISOR"], first_name="지민", last_name="이")
    window.sign_in(name, PASSWORD)
    page = window.page
    window.open("/account/mfa")
    page.click("text=인증 앱 등록 시작")
    page.wait_for_selector("img[src='/account/mfa/qr.svg']")
    page.wait_for_function(
        "() => document.querySelector(\"img[src='/account/mfa/qr.svg']\").naturalWidth > 0"
    )
    window.shot("08-account-mfa-enrol")
    page.click("text=English")
    page.wait_for_selector("html[lang=en]")
    window.shot("09-account-mfa-enrol-en")
    secret = page.inner_text("[data-testid=totp-secret]")
    page.fill("#code", totp_now(secret))
    page.press("#code", "Enter")
    page.wait_for_selector("[data-testid=recovery-codes]")
    assert page.locator("[data-testid=recovery-codes] li").count() == 10
    window.shot("10-account-mfa-recovery-codes")
