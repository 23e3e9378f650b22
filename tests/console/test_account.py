"""The user's own pages: profile, sessions (list, end one, end the others), turning TOTP on
and off; and the language: Accept-Language, the switch, Korean by default."""

from __future__ import annotations

from collections.abc import Callable

from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.support import Browser, totp_now, totp_wrong

Unique = Callable[[str], str]


class TestSessions:
    def test_the_list_shows_each_device_and_ends_one(
        self, stack: Stack, new_browser: Callable[..., Browser], unique: Unique
    ) -> None:
        name = unique("sessions")
        stack.create_user(name, ["AGENT"])
        laptop = new_browser(user_agent="Laptop-Browser/1.0")
        phone = new_browser(user_agent="Phone-Browser/2.0")
        laptop.sign_in_ok(name, PASSWORD)
        phone.sign_in_ok(name, PASSWORD)
        phone_session = phone.stack.session(phone.session_id or "")
        assert phone_session is not None and phone_session.user is not None
        phone_id = phone_session.user.auth_session_id

        listed = laptop.get("/account/sessions")
        assert listed.status_code == 200
        assert "Laptop-Browser/1.0" in listed.text
        assert "Phone-Browser/2.0" in listed.text
        assert listed.text.count("data-session=") == 2
        assert "127.0.0.1" in listed.text
        ended = laptop.post(f"/account/sessions/{phone_id}/end")

        assert ended.status_code == 303
        after = laptop.follow("/account/sessions")
        assert "세션을 종료했습니다." in after.text
        assert "Phone-Browser/2.0" not in after.text
        assert phone.get("/account/sessions").headers["location"].startswith("/login")
        assert phone.follow("/account").url.path == "/login"

    def test_ending_the_others_keeps_this_one(
        self, stack: Stack, new_browser: Callable[..., Browser], unique: Unique
    ) -> None:
        name = unique("others")
        stack.create_user(name, ["VIEWER"])
        here, there = new_browser(), new_browser()
        here.sign_in_ok(name, PASSWORD)
        there.sign_in_ok(name, PASSWORD)

        here.get("/account/sessions")
        here.post("/account/sessions/end-others")

        assert here.follow("/account/sessions").text.count("data-session=") == 1
        assert there.follow("/account/sessions").url.path == "/login"

    def test_ending_the_current_session_signs_out(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)
        session = browser.stack.session(browser.session_id or "")
        assert session is not None and session.user is not None

        browser.get("/account/sessions")
        ended = browser.post(f"/account/sessions/{session.user.auth_session_id}/end")

        assert ended.headers["location"] == "/login?bye=1"
        assert browser.follow("/").url.path == "/login"


class TestProfileAndTotp:
    def test_a_user_turns_totp_on_and_off_from_the_account_pages(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("profile")
        stack.create_user(name, ["SUPERVISOR"], first_name="Min", last_name="Kim")
        browser.sign_in_ok(name, PASSWORD)

        profile = browser.get("/account")
        assert "Min Kim" in profile.text
        assert f"{name}@example.com" in profile.text
        browser.get("/account/mfa")
        browser.post("/account/mfa/start")
        browser.get("/account/mfa")
        secret = browser.totp_secret()
        wrong = browser.post("/account/mfa/confirm", {"code": totp_wrong(secret)})
        assert wrong.status_code == 401
        browser.get("/account/mfa")
        codes = browser.post("/account/mfa/confirm", {"code": totp_now(secret)})
        assert codes.status_code == 200
        assert browser.get("/").status_code == 200
        assert "사용 중" in browser.get("/account").text

        browser.get("/account/mfa")
        refused = browser.post("/account/mfa/disable", {"password": "wrong-password"})
        assert refused.status_code == 401
        assert "비밀번호가 올바르지 않습니다." in refused.text
        off = browser.post("/account/mfa/disable", {"password": PASSWORD})

        assert off.headers["location"] == "/account/mfa"
        assert "2단계 인증을 껐습니다." in browser.get("/account/mfa").text
        assert stack.api_token(name, PASSWORD)


class TestLanguage:
    def test_korean_by_default_and_english_by_accept_language(
        self, new_browser: Callable[..., Browser]
    ) -> None:
        korean = new_browser().get("/login")
        english = new_browser(**{"Accept-Language": "en-US,en;q=0.9,ko;q=0.5"}).get("/login")
        weighted = new_browser(**{"Accept-Language": "fr, en;q=0.3, ko;q=0.8"}).get("/login")

        assert '<html lang="ko">' in korean.text
        assert "<title>로그인 · AICC 운영 콘솔</title>" in korean.text
        assert '<html lang="en">' in english.text
        assert "<title>Sign in · AICC Operator Console</title>" in english.text
        assert '<html lang="ko">' in weighted.text

    def test_the_switch_sets_a_cookie_that_wins_over_the_header(
        self, new_browser: Callable[..., Browser]
    ) -> None:
        browser = new_browser(**{"Accept-Language": "ko-KR"})
        browser.sign_in_ok(*ADMIN)
        browser.get("/account")

        switched = browser.post("/language", {"lang": "en", "next": "/account"})

        assert switched.status_code == 303
        assert switched.headers["location"] == "/account"
        cookie = switched.headers["set-cookie"]
        assert cookie.startswith("aicc_lang=en;")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        page = browser.follow("/account")
        assert '<html lang="en">' in page.text
        assert "My account" in page.text
        assert "Sign out" in page.text
        browser.post("/language", {"lang": "ko", "next": "/"})
        assert '<html lang="ko">' in browser.follow("/").text
