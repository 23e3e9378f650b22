"""The users pages and the audit log through the console, each action checked against the
auth service's own API: search, create with a temporary password, roles, disable/enable,
unlock, password reset, a user's sessions, the audit log's filters and pages; the role
hierarchy's refusals shown at the form; CSRF; who may not come in; markup shown inert."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx2
import pytest

from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.support import Browser

Unique = Callable[[str], str]
XSS_FIRST = "<script>alert('first')</script>"
XSS_LAST = '"><img src=x onerror=alert(2)>'
XSS_AGENT = "<svg onload=alert(3)>"
_SHOWN_PASSWORD = re.compile(r'data-testid="temporary-password">([^<]+)<')


def auth_user(stack: Stack, user_id: str) -> dict[str, Any]:
    response = stack.api("GET", "auth", f"/auth/users/{user_id}", stack.api_token(*ADMIN))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def auth_search(stack: Stack, **params: Any) -> list[str]:
    response = stack.api("GET", "auth", "/auth/users", stack.api_token(*ADMIN), params=params)
    assert response.status_code == 200, response.text
    return [u["username"] for u in response.json()["items"]]


def login(stack: Stack, username: str, password: str, **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{stack.service_url('auth')}/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=10,
    )


def token_works(stack: Stack, token: str) -> bool:
    me = stack.api("GET", "auth", "/auth/me", token)
    assert me.status_code in (200, 401), me.text
    return me.status_code == 200


def listed(html: str) -> list[str]:
    """Usernames in the users table, in order."""
    return re.findall(r'<td><a href="/users/[0-9a-f-]{36}">([^<]+)</a></td>', html)


@pytest.fixture
def admin(browser: Browser) -> Browser:
    browser.sign_in_ok(*ADMIN)
    return browser


class TestSearch:
    def test_by_text_role_and_status_paged_as_auth_pages_them(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        prefix = unique("find")
        token = stack.api_token(*ADMIN)
        names = [f"{prefix}-{n:02d}" for n in range(52)]

        def make(name: str) -> str:
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            made = stack.api("POST", "auth", "/auth/register", token, json=body)
            assert made.status_code == 201, made.text
            return str(made.json()["user_id"])

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(make, names))
        stack.create_user(f"{prefix}-agent", ["AGENT"], last_name=f"Surname{prefix}")
        stack.api("POST", "auth", f"/auth/users/{ids[3]}/disable", token)

        first = admin.get("/users", params={"q": prefix})
        assert first.status_code == 200
        assert listed(first.text) == auth_search(stack, q=prefix, limit=50)
        assert len(listed(first.text)) == 50
        assert "53명 중 1–50" in first.text
        after = re.search(r'href="(/users\?[^"]+)" rel="next"', first.text)
        assert after is not None
        second = admin.get(after[1].replace("&amp;", "&"))
        assert listed(second.text) == [names[50], names[51], f"{prefix}-agent"]
        assert 'rel="prev"' in second.text and 'rel="next"' not in second.text

        by_role = admin.get("/users", params={"q": prefix, "role": "AGENT"})
        by_status = admin.get("/users", params={"q": prefix, "status": "disabled"})
        by_email = admin.get("/users", params={"q": f"{names[7]}@example.com"})
        by_name = admin.get("/users", params={"q": f"surname{prefix}"})
        nobody = admin.get("/users", params={"q": f"{prefix}-nobody"})

        assert listed(by_role.text) == [f"{prefix}-agent"]
        assert listed(by_status.text) == [names[3]]
        assert "사용 중지" in by_status.text
        assert listed(by_email.text) == [names[7]]
        assert listed(by_name.text) == [f"{prefix}-agent"]
        assert listed(nobody.text) == []
        assert "찾은 사용자가 없습니다." in nobody.text
        assert 'option value="AGENT" selected' in by_role.text


class TestCreate:
    def test_a_generated_temporary_password_is_shown_once_and_must_be_changed(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("made")
        admin.get("/users/new")

        created = admin.post(
            "/users/new",
            {
                "username": name,
                "email": f"{name}@example.com",
                "first_name": "Min",
                "last_name": "Kim",
                "roles": ["AGENT", "VIEWER"],
                "mode": "generate",
                "temporary": "on",
            },
        )

        assert created.status_code == 303, created.text
        user_id = created.headers["location"].removeprefix("/users/")
        page = admin.get(created.headers["location"])
        shown = _SHOWN_PASSWORD.search(page.text)
        assert shown is not None
        assert "사용자를 만들었습니다." in page.text
        assert admin.get(created.headers["location"]).text.count("temporary-password") == 0
        user = auth_user(stack, user_id)
        assert (user["username"], user["roles"]) == (name, ["AGENT", "VIEWER"])
        assert (user["first_name"], user["last_name"]) == ("Min", "Kim")
        assert user["password_change_required"] is True
        signed_in = login(stack, name, shown[1])
        assert signed_in.status_code == 200
        me = stack.api("GET", "auth", "/auth/me", signed_in.json()["access_token"]).json()
        assert me["password_change_required"] is True

    def test_a_given_password_that_need_not_change(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("given")
        admin.get("/users/new")
        password = "Given-Password-Of-Hers-73"

        mismatch = admin.post(
            "/users/new",
            {"username": name, "email": f"{name}@example.com", "roles": "SUPERVISOR"}
            | {"mode": "set", "password": password, "confirm_password": password + "x"},
        )
        created = admin.post(
            "/users/new",
            {"username": name, "email": f"{name}@example.com", "roles": "SUPERVISOR"}
            | {"mode": "set", "password": password, "confirm_password": password},
        )

        assert mismatch.status_code == 422
        assert "비밀번호와 확인이 다릅니다." in mismatch.text
        assert f'value="{name}"' in mismatch.text  # the form keeps what was typed
        assert password not in mismatch.text
        assert created.status_code == 303
        page = admin.get(created.headers["location"])
        assert "temporary-password" not in page.text
        user = auth_user(stack, created.headers["location"].removeprefix("/users/"))
        assert user["roles"] == ["SUPERVISOR"]
        assert user["password_change_required"] is False
        me = stack.api(
            "GET", "auth", "/auth/me", login(stack, name, password).json()["access_token"]
        )
        assert me.json()["roles"] == ["SUPERVISOR"]

    def test_refusals_are_form_errors_and_create_nothing(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        taken = unique("taken")
        stack.create_user(taken, ["AGENT"])
        name = unique("refused")
        form = admin.get("/users/new")
        assert 'data-role="SUPER_ADMIN" disabled' in form.text  # an ADMIN cannot grant it
        assert 'data-role="SUPERVISOR">' in form.text

        def attempt(**fields: Any) -> httpx2.Response:
            body = {"username": name, "email": f"{name}@example.com", "roles": "AGENT"} | fields
            return admin.post("/users/new", body)

        too_high = attempt(roles="SUPER_ADMIN")
        admin_role = attempt(roles="ADMIN")
        duplicate = attempt(username=taken)
        bad_name = attempt(username="no spaces allowed")
        bad_email = attempt(email="not-an-email")
        weak = attempt(mode="set", password="password", confirm_password="password")
        no_role = attempt(roles="")

        assert too_high.status_code == 403
        assert "역할 계층상 허용되지 않습니다" in too_high.text
        assert "You cannot grant the role SUPER_ADMIN" in too_high.text
        assert 'id="create-error"' in too_high.text
        assert admin_role.status_code == 403
        assert (duplicate.status_code, bad_name.status_code) == (409, 422)
        assert "같은 사용자 이름이나 이메일을 쓰는 사용자가 있습니다." in duplicate.text
        assert "사용자 이름은 1–150자의" in bad_name.text
        assert "올바른 이메일 주소가 아닙니다." in bad_email.text
        assert "너무 흔한 비밀번호입니다." in weak.text
        assert "역할을 하나 이상 고르세요." in no_role.text
        assert auth_search(stack, q=name) == []


class TestRoles:
    def test_a_change_is_saved_and_the_users_tokens_stop(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("promoted")
        user_id = stack.create_user(name, ["AGENT"])
        token = stack.api_token(name, PASSWORD)
        page = admin.get(f"/users/{user_id}")
        assert 'data-role="AGENT" checked' in page.text

        saved = admin.post(f"/users/{user_id}/roles", {"roles": ["SUPERVISOR", "VIEWER"]})

        assert saved.status_code == 303
        assert auth_user(stack, user_id)["roles"] == ["SUPERVISOR", "VIEWER"]
        assert not token_works(stack, token)
        after = admin.get(f"/users/{user_id}")
        assert "역할을 저장했습니다." in after.text
        assert 'data-role="SUPERVISOR" checked' in after.text
        assert 'data-role="AGENT" checked' not in after.text

    def test_the_hierarchy_refusals_are_shown_at_the_forms(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        agent = stack.create_user(unique("low"), ["AGENT"])
        peer_name = unique("peer")
        stack.aicc(
            "users", "create", peer_name, "--email", f"{peer_name}@example.com",
            "--role", "ADMIN", "--password-stdin", stdin=PASSWORD,
        )  # fmt: skip
        peer = next(
            u["id"]
            for u in stack.api(
                "GET", "auth", "/auth/users", stack.api_token(*ADMIN), params={"q": peer_name}
            ).json()["items"]
        )
        admin.get(f"/users/{agent}")

        made_super = admin.post(f"/users/{agent}/roles", {"roles": "SUPER_ADMIN"})
        admin.get(f"/users/{peer}")
        demote_peer = admin.post(f"/users/{peer}/roles", {"roles": "AGENT"})
        disable_peer = admin.post(f"/users/{peer}/disable")
        reset_peer = admin.post(f"/users/{peer}/password", {"mode": "generate"})

        assert made_super.status_code == 403
        assert 'id="roles-error"' in made_super.text
        assert "역할 계층상 허용되지 않습니다" in made_super.text
        assert 'data-testid="roles-form"' in made_super.text  # the user's page, not an error page
        assert auth_user(stack, agent)["roles"] == ["AGENT"]
        for refused, box in (
            (demote_peer, "roles-error"),
            (disable_peer, "account-error"),
            (reset_peer, "password-error"),
        ):
            assert refused.status_code == 403
            assert f'id="{box}"' in refused.text
            assert "You cannot administer this user" in refused.text
        peer_now = auth_user(stack, peer)
        assert (peer_now["roles"], peer_now["is_active"]) == (["ADMIN"], True)


class TestAccount:
    def test_disable_enable_and_unlock(self, stack: Stack, admin: Browser, unique: Unique) -> None:
        name = unique("acct")
        user_id = stack.create_user(name, ["AGENT"])
        token = stack.api_token(name, PASSWORD)
        admin.get(f"/users/{user_id}")

        assert admin.post(f"/users/{user_id}/disable").status_code == 303
        assert auth_user(stack, user_id)["is_active"] is False
        assert not token_works(stack, token)
        assert login(stack, name, PASSWORD).status_code == 401
        page = admin.get(f"/users/{user_id}")
        assert "사용자를 사용 중지했습니다." in page.text
        assert f'action="/users/{user_id}/enable"' in page.text

        assert admin.post(f"/users/{user_id}/enable").status_code == 303
        assert auth_user(stack, user_id)["is_active"] is True
        assert login(stack, name, PASSWORD).status_code == 200

        address = {"X-Forwarded-For": "198.51.100.23"}  # its own failure counter
        for _ in range(10):
            assert login(stack, name, "Wrong-Password-Guess-1", **address).status_code == 401
        assert auth_user(stack, user_id)["locked"] is True
        locked = admin.get(f"/users/{user_id}")
        assert "잠김" in locked.text
        assert f'action="/users/{user_id}/unlock"' in locked.text

        assert admin.post(f"/users/{user_id}/unlock").status_code == 303
        assert auth_user(stack, user_id)["locked"] is False
        assert login(stack, name, PASSWORD, **address).status_code == 200
        assert f'action="/users/{user_id}/unlock"' not in admin.get(f"/users/{user_id}").text

    def test_password_reset_generated_or_given(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("reset")
        user_id = stack.create_user(name, ["AGENT"])
        token = stack.api_token(name, PASSWORD)
        admin.get(f"/users/{user_id}")

        generated = admin.post(
            f"/users/{user_id}/password", {"mode": "generate", "temporary": "on"}
        )

        assert generated.status_code == 303
        page = admin.get(f"/users/{user_id}")
        shown = _SHOWN_PASSWORD.search(page.text)
        assert shown is not None
        assert "비밀번호 변경 필요" in page.text
        assert "temporary-password" not in admin.get(f"/users/{user_id}").text
        assert not token_works(stack, token)
        assert auth_user(stack, user_id)["password_change_required"] is True
        assert login(stack, name, PASSWORD).status_code == 401
        assert login(stack, name, shown[1]).status_code == 200

        mismatch = admin.post(
            f"/users/{user_id}/password",
            {"mode": "set", "password": "Chosen-By-Admin-55", "confirm_password": "other"},
        )
        weak = admin.post(
            f"/users/{user_id}/password",
            {"mode": "set", "password": "qwerty123", "confirm_password": "qwerty123"},
        )
        given = admin.post(
            f"/users/{user_id}/password",
            {
                "mode": "set",
                "password": "Chosen-By-Admin-55",
                "confirm_password": "Chosen-By-Admin-55",
            },
        )

        assert mismatch.status_code == 422 and 'id="password-error"' in mismatch.text
        assert weak.status_code == 422 and "너무 흔한 비밀번호입니다." in weak.text
        assert given.status_code == 303
        assert "temporary-password" not in admin.get(f"/users/{user_id}").text
        assert auth_user(stack, user_id)["password_change_required"] is False
        full = login(stack, name, "Chosen-By-Admin-55").json()["access_token"]
        assert stack.api("GET", "auth", "/auth/me", full).json()["roles"] == ["AGENT"]


class TestSessions:
    def test_a_users_sessions_are_listed_and_ended(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("devices")
        user_id = stack.create_user(name, ["AGENT"])
        phone = login(stack, name, PASSWORD, **{"User-Agent": "PhoneBrowser/1.0"}).json()
        laptop = login(stack, name, PASSWORD, **{"User-Agent": XSS_AGENT}).json()
        tablet = login(stack, name, PASSWORD, **{"User-Agent": "TabletBrowser/2.0"}).json()
        own = stack.api("GET", "auth", "/auth/sessions", phone["access_token"]).json()
        phone_session = next(s["id"] for s in own if s["current"])

        page = admin.get(f"/users/{user_id}")

        assert page.text.count('data-session="') == 3
        assert "PhoneBrowser/1.0" in page.text
        assert XSS_AGENT not in page.text
        assert "&lt;svg onload=alert(3)&gt;" in page.text

        ended = admin.post(f"/users/{user_id}/sessions/{phone_session}/end")

        assert ended.status_code == 303
        assert not token_works(stack, phone["access_token"])
        assert token_works(stack, laptop["access_token"])
        after = admin.get(f"/users/{user_id}")
        assert after.text.count('data-session="') == 2
        assert "세션을 종료했습니다." in after.text

        assert admin.post(f"/users/{user_id}/sessions/end-all").status_code == 303
        assert not token_works(stack, laptop["access_token"])
        assert not token_works(stack, tablet["access_token"])
        listed_now = stack.api(
            "GET", "auth", f"/auth/users/{user_id}/sessions", stack.api_token(*ADMIN)
        )
        assert listed_now.json() == []
        assert "열린 세션이 없습니다." in admin.get(f"/users/{user_id}").text

    def test_the_admins_own_page_marks_this_session(self, stack: Stack, admin: Browser) -> None:
        me = stack.api("GET", "auth", "/auth/me", admin.access_token()).json()

        page = admin.get(f"/users/{me['id']}")

        assert "지금 이 세션" in page.text
        unknown = admin.get("/users/00000000-0000-0000-0000-000000000000")
        assert unknown.status_code == 404


class TestAudit:
    def test_filters_by_actor_action_target_and_dates(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("audited")
        user_id = stack.create_user(name, ["AGENT"])
        admin.get(f"/users/{user_id}")
        admin.post(f"/users/{user_id}/roles", {"roles": "VIEWER"})
        admin.get(f"/users/{user_id}")
        admin.post(f"/users/{user_id}/disable")
        today = date.today()

        def rows(**params: str) -> list[str]:
            page = admin.get("/audit", params=params)
            assert page.status_code == 200, page.text
            return re.findall(r'<code class="audit-code">([a-z_]+)</code>', page.text)

        assert rows(target=name) == ["user_disabled", "roles_changed", "user_created"]
        assert rows(target=user_id, action="roles_changed") == ["roles_changed"]
        assert rows(target=name, actor=ADMIN[0]) == [
            "user_disabled",
            "roles_changed",
            "user_created",
        ]
        assert rows(target=name, actor=name) == []
        assert rows(target=name, outcome="failure") == []
        assert rows(target=name, since=today.isoformat(), until=today.isoformat()) == [
            "user_disabled",
            "roles_changed",
            "user_created",
        ]
        yesterday = (today - timedelta(days=1)).isoformat()
        assert rows(target=name, until=yesterday) == []
        page = admin.get("/audit", params={"target": name, "action": "roles_changed"})
        assert f'<a href="/users/{user_id}">{name}</a>' in page.text
        assert "AGENT" in page.text and "VIEWER" in page.text
        assert "ConsoleTest/1.0" in page.text  # the browser's user agent, forwarded
        reversed_dates = admin.get(
            "/audit", params={"since": today.isoformat(), "until": yesterday}
        )
        assert "날짜는 YYYY-MM-DD 형식으로" in reversed_dates.text
        unknown = admin.get("/audit", params={"actor": unique("nobody")})
        assert "사용자를 찾지 못했습니다." in unknown.text

    def test_pages_older_by_cursor_without_overlap(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("busy")
        user_id = stack.create_user(name, ["AGENT"])
        token = stack.api_token(*ADMIN)
        for n in range(55):
            stack.api(
                "PATCH", "auth", f"/auth/users/{user_id}", token, json={"first_name": f"N{n}"}
            )

        first = admin.get("/audit", params={"target": name})
        older = re.search(r'href="(/audit\?[^"]+)" rel="next"', first.text)
        assert older is not None
        second = admin.get(older[1].replace("&amp;", "&"))

        first_ids = re.findall(r'data-event="(\d+)"', first.text)
        second_ids = re.findall(r'data-event="(\d+)"', second.text)
        assert (len(first_ids), len(second_ids)) == (50, 6)
        assert "56건" in first.text and "여기부터 6건" in second.text
        assert int(first_ids[-1]) > int(second_ids[0])
        assert 'rel="next"' not in second.text
        api = stack.api(
            "GET", "auth", "/auth/audit", token, params={"target_id": user_id, "limit": 100}
        )
        assert [str(e["id"]) for e in api.json()["items"]] == first_ids + second_ids


class TestProtection:
    def test_a_change_without_the_csrf_token_or_from_elsewhere_is_refused(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        user_id = stack.create_user(unique("csrf"), ["AGENT"])
        admin.get(f"/users/{user_id}")

        no_token = admin.post(f"/users/{user_id}/disable", csrf=None)
        elsewhere = admin.post(
            f"/users/{user_id}/roles", {"roles": "VIEWER"}, origin="https://evil.example"
        )
        wrong = admin.post(
            "/users/new", {"username": "csrf-x", "email": "c@example.com"}, csrf="x" * 43
        )

        for refused in (no_token, elsewhere, wrong):
            assert refused.status_code == 403
            assert "이 콘솔의 페이지에서 보낸 요청이 아니거나" in refused.text
        user = auth_user(stack, user_id)
        assert (user["is_active"], user["roles"]) == (True, ["AGENT"])
        assert auth_search(stack, q="csrf-x") == []

    @pytest.mark.parametrize("role", ["VIEWER", "AGENT"])
    def test_viewers_and_agents_are_refused_every_users_page(
        self, stack: Stack, browser: Browser, unique: Unique, role: str
    ) -> None:
        target = stack.create_user(unique("target"), ["VIEWER"])
        name = unique(role.lower())
        stack.create_user(name, [role])
        overview = browser.sign_in_ok(name, PASSWORD)
        assert 'href="/users"' not in overview.text
        assert 'href="/audit"' not in overview.text

        for path in ("/users", "/users/new", f"/users/{target}", "/audit"):
            refused = browser.get(path)
            assert refused.status_code == 403, path
            assert "이 페이지를 볼 권한이 없습니다." in refused.text
        browser.get("/account")
        for path, body in (
            (f"/users/{target}/disable", {}),
            (f"/users/{target}/roles", {"roles": "SUPERVISOR"}),
            (f"/users/{target}/password", {"mode": "generate"}),
            ("/users/new", {"username": unique("sneaky"), "email": "s@example.com"}),
        ):
            assert browser.post(path, body).status_code == 403, path
        user = auth_user(stack, target)
        assert (user["is_active"], user["roles"]) == (True, ["VIEWER"])

    def test_markup_in_names_and_user_agents_is_inert_in_list_detail_and_audit(
        self, stack: Stack, admin: Browser, unique: Unique
    ) -> None:
        name = unique("xss")
        user_id = stack.create_user(name, ["AGENT"], first_name=XSS_FIRST, last_name=XSS_LAST)
        login(stack, name, PASSWORD, **{"User-Agent": XSS_AGENT})
        admin.get(f"/users/{user_id}")
        admin.post(f"/users/{user_id}/roles", {"roles": "VIEWER"})
        refused = stack.api(
            "POST",
            "auth",
            "/auth/register",
            stack.api_token(*ADMIN),
            json={"username": "<b>x</b>", "email": "x@example.com", "password": PASSWORD},
        )
        assert refused.status_code == 422  # markup never makes it into a username

        pages = {
            "list": admin.get("/users", params={"q": name}),
            "detail": admin.get(f"/users/{user_id}"),
            "audit": admin.get("/audit", params={"target": name}),
        }

        for where, page in pages.items():
            html = page.text
            assert page.status_code == 200, where
            assert XSS_FIRST not in html and "<img src=x" not in html, where
            assert "&lt;script&gt;alert(&#39;first&#39;)&lt;/script&gt;" in html, where
            assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html, where
        assert XSS_AGENT not in pages["detail"].text + pages["audit"].text
        assert "&lt;svg onload=alert(3)&gt;" in pages["detail"].text
        assert "&lt;svg onload=alert(3)&gt;" in pages["audit"].text
