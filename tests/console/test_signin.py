"""Signing in to the console: password, the MFA step, a forced password change, TOTP
enrolment required by the role, signing out."""

from __future__ import annotations

from collections.abc import Callable

import httpx2

from tests.console.stack import ADMIN, BOOTSTRAP, PASSWORD, Stack
from tests.console.support import Browser, totp_next, totp_now, totp_wrong

Unique = Callable[[str], str]


def enrol_totp(stack: Stack, username: str, password: str) -> str:
    """TOTP turned on through the auth API; returns the secret."""
    token = stack.api_token(username, password)
    started = stack.api("POST", "auth", "/auth/mfa/totp", token)
    assert started.status_code == 200, started.text
    secret: str = started.json()["secret"]
    confirmed = stack.api(
        "POST", "auth", "/auth/mfa/totp/confirm", token, json={"code": totp_now(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret


class TestPassword:
    def test_the_admin_signs_in_and_lands_where_they_were_going(self, browser: Browser) -> None:
        assert browser.get("/account/sessions").headers["location"] == (
            "/login?next=%2Faccount%2Fsessions"
        )
        browser.get("/login?next=/account/sessions")
        response = browser.post(
            "/login", {"username": ADMIN[0], "password": ADMIN[1], "next": "/account/sessions"}
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/account/sessions"
        page = browser.follow("/")
        assert page.status_code == 200
        assert 'data-live-source="/overview/events"' in page.text
        assert ADMIN[0] in page.text

    def test_a_wrong_password_shows_the_form_again_with_a_message(self, browser: Browser) -> None:
        response = browser.sign_in(ADMIN[0], "not-the-password")

        assert response.status_code == 401
        assert 'role="alert"' in response.text
        assert "사용자 이름 또는 비밀번호가 올바르지 않습니다." in response.text
        assert f'value="{ADMIN[0]}"' in response.text
        assert browser.follow("/").url.path == "/login"

    def test_a_next_address_off_the_console_is_ignored(self, browser: Browser) -> None:
        browser.get("/login")
        response = browser.post(
            "/login", {"username": ADMIN[0], "password": ADMIN[1], "next": "//evil.example/x"}
        )

        assert response.headers["location"] == "/"


class TestMfa:
    def test_an_enrolled_user_gives_the_code_after_the_password(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("mfa")
        stack.create_user(name, ["SUPERVISOR"])
        secret = enrol_totp(stack, name, PASSWORD)

        asked = browser.sign_in(name, PASSWORD)
        assert asked.status_code == 303
        assert asked.headers["location"].startswith("/login/mfa")
        form = browser.get(asked.headers["location"])
        assert 'autocomplete="one-time-code"' in form.text
        wrong = browser.post("/login/mfa", {"code": totp_wrong(secret)})
        assert wrong.status_code == 401
        assert "인증 코드가 올바르지 않습니다." in wrong.text
        signed_in = browser.post("/login/mfa", {"code": totp_next(secret)})

        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
        assert browser.follow("/").status_code == 200

    def test_the_code_step_needs_a_password_first(self, browser: Browser) -> None:
        assert browser.get("/login/mfa").headers["location"] == "/login"


class TestForcedPasswordChange:
    def test_a_password_an_admin_set_must_be_changed_before_anything_else(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("temp")
        user_id = stack.create_user(name, ["SUPERVISOR"])
        admin = stack.api_token(*ADMIN)
        reset = stack.api(
            "POST",
            "auth",
            f"/auth/users/{user_id}/password-reset",
            admin,
            json={"password": "Temporary-From-Admin-64"},
        )
        assert reset.status_code == 200, reset.text

        signed_in = browser.sign_in(name, "Temporary-From-Admin-64")
        assert signed_in.headers["location"] == "/account/password"
        form = browser.get("/account/password")
        assert "관리자가 설정한 임시 비밀번호입니다." in form.text
        assert 'class="sidenav"' not in form.text
        assert browser.get("/").headers["location"] == "/account/password"
        assert browser.get("/account/sessions").headers["location"] == "/account/password"

        browser.get("/account/password")
        mismatch = browser.post(
            "/account/password",
            {
                "current_password": "Temporary-From-Admin-64",
                "new_password": "My-Own-Passphrase-93",
                "confirm_password": "Something-Else-93",
            },
        )
        assert mismatch.status_code == 422
        common = browser.post(
            "/account/password",
            {
                "current_password": "Temporary-From-Admin-64",
                "new_password": "password",
                "confirm_password": "password",
            },
        )
        assert common.status_code == 422
        changed = browser.post(
            "/account/password",
            {
                "current_password": "Temporary-From-Admin-64",
                "new_password": "My-Own-Passphrase-93",
                "confirm_password": "My-Own-Passphrase-93",
            },
        )

        assert changed.status_code == 303
        assert changed.headers["location"] == "/"
        overview = browser.follow("/")
        assert overview.status_code == 200
        assert 'class="sidenav"' in overview.text
        assert "비밀번호를 바꿨습니다." in overview.text
        assert stack.api_token(name, "My-Own-Passphrase-93")


class TestTotpEnrolment:
    def test_a_role_that_requires_mfa_enrols_with_a_qr_code_first(self, browser: Browser) -> None:
        # The first SUPER_ADMIN of this stack; SUPER_ADMIN requires MFA here.
        signed_in = browser.sign_in(*BOOTSTRAP)
        assert signed_in.headers["location"] == "/account/mfa"
        assert browser.get("/").headers["location"] == "/account/mfa"
        page = browser.get("/account/mfa")
        assert "역할에 따라 2단계 인증이 필요합니다." in page.text
        assert browser.get("/account/mfa/qr.svg").status_code == 404
        browser.get("/account/mfa")
        started = browser.post("/account/mfa/start")
        assert started.headers["location"] == "/account/mfa"
        page = browser.get("/account/mfa")
        assert '<img src="/account/mfa/qr.svg"' in page.text
        secret = browser.totp_secret()
        qr = browser.get("/account/mfa/qr.svg")
        assert qr.headers["content-type"].startswith("image/svg+xml")
        assert qr.headers["cache-control"] == "no-store"
        assert qr.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
        assert "<script" not in qr.text and "style=" not in qr.text

        browser.get("/account/mfa")
        confirmed = browser.post("/account/mfa/confirm", {"code": totp_now(secret)})

        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.text.count("<li><code>") == 10
        overview = browser.get("/")
        assert overview.status_code == 200
        assert 'href="/users"' in overview.text


class TestSignOut:
    def test_signing_out_ends_the_session_here_and_at_the_auth_service(
        self, stack: Stack, browser: Browser
    ) -> None:
        browser.sign_in_ok(*ADMIN)
        old_cookie = browser.session_id
        assert old_cookie is not None
        token = browser.access_token()

        browser.get("/")
        out = browser.post("/logout")

        assert out.status_code == 303
        assert out.headers["location"] == "/login?bye=1"
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert "로그아웃했습니다." in browser.follow("/login?bye=1").text
        replay = httpx2.get(f"{stack.url}/account", cookies={stack.service.cookie_name: old_cookie})
        assert replay.status_code == 303
        assert replay.headers["location"].startswith("/login")
        assert stack.session(old_cookie) is None
        me = stack.api("GET", "auth", "/auth/me", token)
        assert me.status_code == 401
