"""What protects the console's users: the session cookie's flags, CSRF refusal, the security
headers on every response, no token anywhere the browser can read, pages only for those
allowed, and user-supplied text shown inert."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie

import httpx2
import pytest

from aicc.console.app import create_app
from tests.console.stack import ADMIN, PASSWORD, ConsoleThread, Stack, console_settings
from tests.console.support import Browser

Unique = Callable[[str], str]
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
STATIC = ("base.css", "components.css", "pages.css", "console.js", "favicon.svg")
PAGES = ("/", "/account", "/account/password", "/account/mfa", "/account/sessions", "/users")
XSS_FIRST = "<script>alert('first')</script>"
XSS_LAST = '"><img src=x onerror=alert(2)>'


def cookie_of(response: httpx2.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set")


def stream_start(browser: Browser, events: int = 3) -> str:
    """The first events of the overview's event stream."""
    seen = ""
    with browser.http.stream("GET", "/overview/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            seen += line + "\n"
            if seen.count("event: ") >= events:
                break
    return seen


class TestSessionCookie:
    def test_development_cookie_is_httponly_and_samesite_strict(self, browser: Browser) -> None:
        response = browser.get("/login")

        cookie = cookie_of(response, "aicc_console")
        attributes = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
        assert attributes == {"Path", "HttpOnly", "SameSite"}
        assert "SameSite=Strict" in cookie
        value = SimpleCookie(cookie)["aicc_console"].value
        assert len(value) >= 43

    @pytest.fixture
    def secure_console(self, stack: Stack) -> Iterator[str]:
        settings = console_settings(stack.root, stack.ports, env="test")
        console = ConsoleThread(create_app(settings))
        console.start()
        yield console.url
        console.stop()

    def test_outside_development_it_is_secure_and_host_prefixed(self, secure_console: str) -> None:
        response = httpx2.get(f"{secure_console}/login")

        cookie = cookie_of(response, "__Host-aicc_console")
        assert "; Secure" in cookie
        assert "; HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Domain" not in cookie
        assert response.headers["strict-transport-security"] == "max-age=31536000"

    def test_signing_in_gives_a_new_session_id(self, browser: Browser) -> None:
        browser.get("/login")
        before = browser.session_id

        browser.post("/login", {"username": ADMIN[0], "password": ADMIN[1]})

        assert before is not None
        assert browser.session_id not in (None, before)
        assert browser.stack.session(before) is None


class TestCsrf:
    @pytest.fixture
    def admin(self, browser: Browser) -> Browser:
        browser.sign_in_ok(*ADMIN)
        browser.get("/account/sessions")
        return browser

    def test_a_post_without_the_token_is_refused(self, admin: Browser) -> None:
        response = admin.post("/account/sessions/end-others", csrf=None)

        assert response.status_code == 403
        assert "이 콘솔의 페이지에서 보낸 요청이 아니거나" in response.text

    def test_a_post_with_another_token_is_refused(self, admin: Browser) -> None:
        response = admin.post("/logout", csrf="x" * 43)

        assert response.status_code == 403
        assert admin.follow("/").status_code == 200

    def test_a_post_from_another_origin_is_refused_even_with_the_token(
        self, admin: Browser
    ) -> None:
        response = admin.post("/logout", origin="https://evil.example")
        referer_only = admin.post(
            "/logout", origin=None, headers={"Referer": "https://evil.example/page"}
        )
        neither = admin.post("/logout", origin=None)
        null_origin = admin.post("/logout", origin="null")

        for refused in (response, referer_only, neither, null_origin):
            assert refused.status_code == 403
        assert admin.follow("/").status_code == 200

    def test_the_token_in_a_header_and_a_same_origin_referer_are_accepted(
        self, admin: Browser
    ) -> None:
        token = admin.csrf()

        response = admin.post(
            "/logout",
            csrf=None,
            origin=None,
            headers={"X-CSRF-Token": token, "Referer": f"{admin.stack.url}/account"},
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/login?bye=1"

    def test_the_sign_in_form_is_protected_too(self, browser: Browser) -> None:
        browser.get("/login")

        response = browser.post("/login", {"username": ADMIN[0], "password": ADMIN[1]}, csrf=None)

        assert response.status_code == 403
        assert browser.follow("/").url.path == "/login"


class TestHeaders:
    def test_every_response_carries_the_security_headers(self, browser: Browser) -> None:
        anonymous = [
            browser.get("/login"),
            browser.get("/no-such-page"),
            *(browser.get(f"/static/{name}") for name in STATIC),
            browser.get("/health"),
        ]
        browser.sign_in_ok(*ADMIN)
        signed_in = [browser.get(path) for path in PAGES]
        signed_in.append(browser.post("/account/sessions/end-others", csrf=None))

        for response in anonymous + signed_in:
            headers = response.headers
            assert headers["content-security-policy"] == CSP, response.url
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            assert "strict-transport-security" not in headers
        for response in signed_in[:-1]:
            assert response.status_code == 200, response.url
            assert response.headers["cache-control"] == "no-store"

    def test_pages_have_no_inline_script_or_style(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)
        pages = [browser.get(path).text for path in PAGES] + [browser.get("/login").text]

        for html in pages:
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
            assert "<style" not in html
            assert not re.search(r"\sstyle=", html)
            assert not re.search(r"\son[a-z]+=", html)
            assert "javascript:" not in html

    def test_an_unknown_page_is_a_friendly_page_and_health_stays_json(
        self, browser: Browser
    ) -> None:
        page = browser.get("/no-such-page")
        ready = browser.get("/health/ready")

        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "페이지를 찾을 수 없습니다." in page.text
        assert ready.json()["status"] == "ready"
        missing = browser.get("/no-such-page", headers={"Accept": "application/json"})
        assert missing.json()["error"]["code"] == "http_404"


class TestNoTokenReachesTheBrowser:
    def test_no_page_script_or_event_shows_a_token(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)
        session = browser.stack.session(browser.session_id or "")
        assert session is not None
        secrets = [s for s in (session.access_token, session.refresh_token) if s]
        assert len(secrets) == 2

        served = [browser.get(path) for path in PAGES]
        served += [browser.get(f"/static/{name}") for name in STATIC]
        texts = [r.text for r in served] + [stream_start(browser)]
        texts += [str(dict(r.headers)) for r in served]

        for text in texts:
            for secret in secrets:
                assert secret not in text
            assert "eyJ" not in text
        assert set(browser.http.cookies.keys()) == {"aicc_console"}


class TestPermissions:
    def test_a_viewer_is_not_shown_and_not_let_into_an_admin_page(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("viewer")
        stack.create_user(name, ["VIEWER"])
        overview = browser.sign_in_ok(name, PASSWORD)

        refused = browser.get("/users")

        assert overview.status_code == 200
        assert 'href="/"' in overview.text
        assert 'href="/users"' not in overview.text
        assert 'href="/account"' in overview.text
        assert 'data-live="alerts"' not in overview.text
        assert refused.status_code == 403
        assert "이 페이지를 볼 권한이 없습니다." in refused.text
        assert 'href="/users"' not in refused.text
        assert 'class="sidenav"' in refused.text

    def test_an_admin_sees_and_opens_it(self, browser: Browser) -> None:
        overview = browser.sign_in_ok(*ADMIN)

        assert 'href="/users"' in overview.text
        assert browser.get("/users").status_code == 200


class TestUserTextIsInert:
    def test_markup_in_a_name_is_shown_as_text(
        self, stack: Stack, browser: Browser, new_browser: Callable[..., Browser], unique: Unique
    ) -> None:
        name = unique("xss")
        stack.create_user(name, ["AGENT"], first_name=XSS_FIRST, last_name=XSS_LAST)
        refused = stack.api(
            "POST",
            "auth",
            "/auth/register",
            stack.api_token(*ADMIN),
            json={
                "username": "<script>x</script>",
                "email": "x@example.com",
                "password": PASSWORD,
            },
        )
        assert refused.status_code == 422

        own = browser.sign_in_ok(name, PASSWORD)
        profile = browser.get("/account")
        admin = new_browser()
        admin.sign_in_ok(*ADMIN)
        listed = admin.get(f"/users?q={name}")

        for html in (own.text, profile.text, listed.text):
            assert XSS_FIRST not in html
            assert "<img src=x" not in html
            assert "&lt;script&gt;alert(&#39;first&#39;)&lt;/script&gt;" in html
            assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
