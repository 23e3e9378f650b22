"""Login sessions through the HTTP API: listing, ending one or all others, logout, password
change, and the idle and absolute timeouts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from aicc.auth import models
from tests.auth.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AuthClient, bearer
from tests.auth.support import error_code, login_response, refresh_response

PASSWORD = "Session-Passphrase-77"
NEW_PASSWORD = "Brand-New-Passphrase-88"


async def login_as(auth: AuthClient, username: str, user_agent: str) -> dict[str, Any]:
    response = await login_response(auth, username, PASSWORD, headers={"User-Agent": user_agent})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def session_id(auth: AuthClient, tokens: dict[str, Any]) -> str:
    me = await auth.http.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    sid: str = me.json()["session_id"]
    return sid


async def list_sessions(auth: AuthClient, tokens: dict[str, Any]) -> list[dict[str, Any]]:
    response = await auth.http.get("/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def assert_revoked(auth: AuthClient, tokens: dict[str, Any]) -> None:
    """The access token is refused as revoked and the refresh token no longer works."""
    me = await auth.http.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 401
    assert error_code(me) == "token_revoked"
    refreshed = await refresh_response(auth, tokens)
    assert refreshed.status_code == 401
    assert "access_token" not in refreshed.text


async def assert_works(auth: AuthClient, tokens: dict[str, Any]) -> None:
    assert (await auth.http.get("/auth/me", headers=bearer(tokens))).status_code == 200


async def set_session_times(auth: AuthClient, sid: str, **values: datetime) -> None:
    table = models.session
    async with auth.service.resources.database.transaction() as conn:
        result = await conn.execute(update(table).where(table.c.id == sid).values(**values))
        assert result.rowcount == 1


class TestListingSessions:
    async def test_two_logins_are_listed_with_their_details_and_one_is_current(
        self, auth: AuthClient
    ) -> None:
        await auth.create_user("sess-list", PASSWORD, ["AGENT"])
        laptop = await login_as(auth, "sess-list", "Laptop-Browser/1.0")
        phone = await login_as(auth, "sess-list", "Phone-App/2.0")

        listed = await list_sessions(auth, laptop)

        assert len(listed) == 2
        by_agent = {s["user_agent"]: s for s in listed}
        assert set(by_agent) == {"Laptop-Browser/1.0", "Phone-App/2.0"}
        for found in listed:
            assert found["ip_address"] == "127.0.0.1"
            created = datetime.fromisoformat(found["created_at"])
            last_used = datetime.fromisoformat(found["last_used_at"])
            assert created.tzinfo is not None
            assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
            assert last_used >= created
        assert [s["current"] for s in listed].count(True) == 1
        assert by_agent["Laptop-Browser/1.0"]["current"] is True
        assert by_agent["Laptop-Browser/1.0"]["id"] == await session_id(auth, laptop)
        from_phone = await list_sessions(auth, phone)
        assert {s["id"]: s["current"] for s in from_phone} == {
            s["id"]: not s["current"] for s in listed
        }

    async def test_only_the_users_own_sessions_are_listed(self, auth_embedded: AuthClient) -> None:
        auth = auth_embedded
        await auth.create_user("sess-own-a", PASSWORD, ["AGENT"])
        await auth.create_user("sess-own-b", PASSWORD, ["AGENT"])
        mine = await login_as(auth, "sess-own-a", "A/1")
        await login_as(auth, "sess-own-b", "B/1")

        listed = await list_sessions(auth, mine)

        assert [s["user_agent"] for s in listed] == ["A/1"]

    async def test_ended_sessions_are_not_listed(self, auth_embedded: AuthClient) -> None:
        auth = auth_embedded
        await auth.create_user("sess-ended", PASSWORD, ["AGENT"])
        kept = await login_as(auth, "sess-ended", "Kept/1")
        gone = await login_as(auth, "sess-ended", "Gone/1")
        assert (await auth.http.post("/auth/logout", headers=bearer(gone))).status_code == 204

        listed = await list_sessions(auth, kept)

        assert [s["user_agent"] for s in listed] == ["Kept/1"]


class TestEndingSessions:
    async def test_ending_another_own_session_revokes_its_tokens(self, auth: AuthClient) -> None:
        await auth.create_user("sess-end-one", PASSWORD, ["AGENT"])
        current = await login_as(auth, "sess-end-one", "Current/1")
        other = await login_as(auth, "sess-end-one", "Other/1")
        other_id = await session_id(auth, other)

        response = await auth.http.delete(f"/auth/sessions/{other_id}", headers=bearer(current))

        assert response.status_code == 204
        await assert_revoked(auth, other)
        await assert_works(auth, current)
        assert [s["user_agent"] for s in await list_sessions(auth, current)] == ["Current/1"]

    async def test_ending_all_other_sessions_returns_the_count_and_keeps_this_one(
        self, auth: AuthClient
    ) -> None:
        await auth.create_user("sess-end-all", PASSWORD, ["AGENT"])
        current = await login_as(auth, "sess-end-all", "Current/1")
        others = [await login_as(auth, "sess-end-all", f"Other/{n}") for n in range(3)]

        response = await auth.http.delete("/auth/sessions", headers=bearer(current))

        assert response.status_code == 200, response.text
        assert response.json() == {"ended": 3}
        for tokens in others:
            await assert_revoked(auth, tokens)
        await assert_works(auth, current)
        assert (await refresh_response(auth, current)).status_code == 200
        again = await auth.http.delete("/auth/sessions", headers=bearer(current))
        assert again.json() == {"ended": 0}

    async def test_a_user_cannot_end_another_users_session(self, auth: AuthClient) -> None:
        await auth.create_user("sess-victim", PASSWORD, ["AGENT"])
        await auth.create_user("sess-intruder", PASSWORD, ["SUPERVISOR"])
        victim = await login_as(auth, "sess-victim", "Victim/1")
        intruder = await login_as(auth, "sess-intruder", "Intruder/1")
        victim_id = await session_id(auth, victim)

        response = await auth.http.delete(f"/auth/sessions/{victim_id}", headers=bearer(intruder))

        assert response.status_code == 404
        assert error_code(response) == "session_not_found"
        await assert_works(auth, victim)

    async def test_an_admin_can_end_another_users_session(self, auth: AuthClient) -> None:
        await auth.create_user("sess-managed", PASSWORD, ["AGENT"])
        managed = await login_as(auth, "sess-managed", "Managed/1")
        managed_id = await session_id(auth, managed)

        response = await auth.http.delete(
            f"/auth/sessions/{managed_id}", headers=await auth.admin_headers()
        )

        assert response.status_code == 204
        await assert_revoked(auth, managed)

    async def test_an_admin_ends_sessions_of_lower_roles_only(self, auth: AuthClient) -> None:
        await auth.create_user("sess-admin", PASSWORD, ["ADMIN"])
        await auth.create_user("sess-peer-admin", PASSWORD, ["ADMIN"])
        await auth.create_user("sess-agent", PASSWORD, ["AGENT"])
        acting = await login_as(auth, "sess-admin", "Admin/1")
        root = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        peer = await login_as(auth, "sess-peer-admin", "Peer/1")
        agent = await login_as(auth, "sess-agent", "Agent/1")

        for higher in (root, peer):
            sid = await session_id(auth, higher)
            refused = await auth.http.delete(f"/auth/sessions/{sid}", headers=bearer(acting))
            assert refused.status_code == 403
            assert error_code(refused) == "role_not_allowed"
            await assert_works(auth, higher)
        agent_sid = await session_id(auth, agent)
        ended = await auth.http.delete(f"/auth/sessions/{agent_sid}", headers=bearer(acting))
        assert ended.status_code == 204
        await assert_revoked(auth, agent)

    async def test_ending_an_unknown_session_is_not_found(self, auth_embedded: AuthClient) -> None:
        auth = auth_embedded
        response = await auth.http.delete(
            "/auth/sessions/00000000-0000-0000-0000-000000000000",
            headers=await auth.admin_headers(),
        )

        assert response.status_code == 404
        assert error_code(response) == "session_not_found"

    async def test_session_routes_need_a_token(self, auth_embedded: AuthClient) -> None:
        auth = auth_embedded
        for method, url in [
            ("GET", "/auth/sessions"),
            ("DELETE", "/auth/sessions"),
            ("DELETE", "/auth/sessions/some-id"),
            ("POST", "/auth/logout"),
        ]:
            response = await auth.http.request(method, url)
            assert response.status_code == 401, (method, url)
            assert error_code(response) == "missing_token"


class TestLogout:
    async def test_logout_revokes_the_access_and_refresh_tokens(self, auth: AuthClient) -> None:
        await auth.create_user("sess-logout", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-logout", "Logout/1")
        other = await login_as(auth, "sess-logout", "Stays/1")

        response = await auth.http.post("/auth/logout", headers=bearer(tokens))

        assert response.status_code == 204
        assert response.content == b""
        await assert_revoked(auth, tokens)
        await assert_works(auth, other)

    async def test_logging_out_twice_is_refused_the_second_time(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await auth.create_user("sess-logout-twice", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-logout-twice", "Logout/1")
        assert (await auth.http.post("/auth/logout", headers=bearer(tokens))).status_code == 204

        again = await auth.http.post("/auth/logout", headers=bearer(tokens))

        assert again.status_code == 401
        assert error_code(again) == "token_revoked"


class TestPasswordChange:
    async def test_a_wrong_current_password_is_refused(self, auth: AuthClient) -> None:
        await auth.create_user("sess-pw-wrong", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-pw-wrong", "Pw/1")

        response = await auth.http.post(
            "/auth/password",
            json={"current_password": "Not-My-Password-1", "new_password": NEW_PASSWORD},
            headers=bearer(tokens),
        )

        assert response.status_code == 401
        assert error_code(response) == "invalid_credentials"
        await assert_works(auth, tokens)
        await login_as(auth, "sess-pw-wrong", "Pw/2")

    async def test_a_weak_new_password_is_refused_with_a_password_code(
        self, auth: AuthClient
    ) -> None:
        await auth.create_user("sess-pw-weak", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-pw-weak", "Pw/1")

        for weak in ["Xq7#k", "password123", "my-sess-pw-weak-pass"]:
            response = await auth.http.post(
                "/auth/password",
                json={"current_password": PASSWORD, "new_password": weak},
                headers=bearer(tokens),
            )
            assert response.status_code == 422, weak
            assert error_code(response).startswith("password_"), response.text
            assert weak not in response.text

        await assert_works(auth, tokens)

    async def test_a_good_new_password_replaces_every_session_with_a_new_one(
        self, auth: AuthClient
    ) -> None:
        await auth.create_user("sess-pw-change", PASSWORD, ["AGENT"])
        old = await login_as(auth, "sess-pw-change", "Pw/1")
        elsewhere = await login_as(auth, "sess-pw-change", "Pw/2")

        response = await auth.http.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(old),
        )

        assert response.status_code == 200, response.text
        new = response.json()
        assert set(new) >= {"access_token", "refresh_token", "expires_in"}
        assert new["token_type"] == "Bearer"
        await assert_revoked(auth, old)
        await assert_revoked(auth, elsewhere)
        await assert_works(auth, new)
        refreshed = await refresh_response(auth, new)
        assert refreshed.status_code == 200, refreshed.text
        await assert_works(auth, refreshed.json())
        assert len(await list_sessions(auth, refreshed.json())) == 1
        old_login = await auth.http.post(
            "/auth/login", json={"username": "sess-pw-change", "password": PASSWORD}
        )
        assert old_login.status_code == 401
        assert error_code(old_login) == "invalid_credentials"
        await auth.login("sess-pw-change", NEW_PASSWORD)


class TestSessionTimeouts:
    async def test_a_session_idle_for_too_long_cannot_be_refreshed(self, auth: AuthClient) -> None:
        await auth.create_user("sess-idle", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-idle", "Idle/1")
        sid = await session_id(auth, tokens)
        idle = auth.service.settings.auth.session_idle_timeout

        await set_session_times(
            auth, sid, last_used_at=datetime.now(UTC) - timedelta(seconds=idle + 60)
        )
        response = await refresh_response(auth, tokens)

        assert response.status_code == 401
        assert error_code(response) == "session_expired"
        listed = await list_sessions(auth, await login_as(auth, "sess-idle", "Idle/2"))
        assert [s["user_agent"] for s in listed] == ["Idle/2"]

    async def test_a_recently_used_session_is_refreshed_and_its_last_use_moves(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await auth.create_user("sess-active", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-active", "Active/1")
        sid = await session_id(auth, tokens)
        earlier = datetime.now(UTC) - timedelta(seconds=60)
        await set_session_times(auth, sid, last_used_at=earlier)

        response = await refresh_response(auth, tokens)

        assert response.status_code == 200, response.text
        (listed,) = await list_sessions(auth, response.json())
        assert datetime.fromisoformat(listed["last_used_at"]) > earlier + timedelta(seconds=30)

    async def test_a_session_past_its_absolute_lifetime_cannot_be_refreshed(
        self, auth: AuthClient
    ) -> None:
        await auth.create_user("sess-lifetime", PASSWORD, ["AGENT"])
        tokens = await login_as(auth, "sess-lifetime", "Lifetime/1")
        sid = await session_id(auth, tokens)

        await set_session_times(auth, sid, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        response = await refresh_response(auth, tokens)

        assert response.status_code == 401
        assert error_code(response) == "session_expired"


async def test_metrics_count_live_sessions(auth: AuthClient) -> None:
    auth.service.sessions_refresh_seconds = 0
    before = await live_sessions(auth)
    await auth.create_user("sess-metric", PASSWORD, ["AGENT"])
    desk = await login_as(auth, "sess-metric", "Desk/1")
    await login_as(auth, "sess-metric", "Phone/1")
    counted = await live_sessions(auth)
    await auth.http.post("/auth/logout", headers=bearer(desk))
    assert counted - before >= 2
    assert await live_sessions(auth) == counted - 1


async def live_sessions(auth: AuthClient) -> float:
    text = (await auth.http.get("/metrics")).text
    found = re.search(r"^aicc_active_sessions_total (\S+)$", text, re.M)
    assert found is not None, "the gauge is exported"
    return float(found.group(1))
