"""What an administration front end (the operator console) reads besides the basics: users
by id, a user's sessions, whether an account is locked or must change its password, a user
created with a temporary password, and the audit log paged by cursor.

Every response in these tests passes through ``no_secrets`` (see ``tests/auth/admin_api.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.auth.admin_api import PASSWORD, UNKNOWN_ID, WRONG_PASSWORD, watched
from tests.auth.conftest import AuthClient, auth_settings, bearer, running_auth
from tests.auth.support import assert_error, login_response, registration_body


class TestUsersById:
    async def test_the_id_filter_returns_exactly_those_users(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        first = await api.create_user("by-id-first", PASSWORD, ["AGENT"])
        second = await api.create_user("by-id-second", PASSWORD, ["VIEWER"])
        await api.create_user("by-id-other", PASSWORD, ["VIEWER"])

        both = await api.http.get(
            "/auth/users", params=[("id", first), ("id", second), ("id", UNKNOWN_ID)], headers=admin
        )
        narrowed = await api.http.get(
            "/auth/users", params=[("id", first), ("id", second), ("role", "VIEWER")], headers=admin
        )
        too_many = await api.http.get(
            "/auth/users", params=[("id", UNKNOWN_ID)] * 201, headers=admin
        )

        assert both.status_code == 200, both.text
        assert [u["username"] for u in both.json()["items"]] == ["by-id-first", "by-id-second"]
        assert both.json()["total"] == 2
        assert [u["id"] for u in narrowed.json()["items"]] == [second]
        assert_error(too_many, 422, "validation_error")


class TestUserSessions:
    async def test_an_admin_lists_a_users_sessions_and_ends_one(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("sessions-of", PASSWORD, ["AGENT"])
        kept = await api.login("sessions-of", PASSWORD)
        ended = await api.login("sessions-of", PASSWORD)
        own = (await api.http.get("/auth/sessions", headers=bearer(ended))).json()
        ended_id = next(s["id"] for s in own if s["current"])

        listed = await api.http.get(f"/auth/users/{user_id}/sessions", headers=admin)

        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 2
        assert ended_id in {s["id"] for s in listed.json()}
        assert not any(s["current"] for s in listed.json())
        assert set(listed.json()[0]) >= {"ip_address", "user_agent", "created_at", "last_used_at"}

        gone = await api.http.delete(f"/auth/sessions/{ended_id}", headers=admin)

        assert gone.status_code == 204
        after = (await api.http.get(f"/auth/users/{user_id}/sessions", headers=admin)).json()
        assert ended_id not in {s["id"] for s in after}
        assert len(after) == 1
        assert (await api.http.get("/auth/me", headers=bearer(kept))).status_code == 200
        assert_error(await api.http.get("/auth/me", headers=bearer(ended)), 401, "token_revoked")

    async def test_the_callers_own_session_is_marked_current(self, api: AuthClient) -> None:
        tokens = await api.login("root-admin", "bootstrap-Passphrase-42")
        me = (await api.http.get("/auth/me", headers=bearer(tokens))).json()

        listed = await api.http.get(f"/auth/users/{me['id']}/sessions", headers=bearer(tokens))

        current = [s["id"] for s in listed.json() if s["current"]]
        assert current == [me["session_id"]]


class TestUserState:
    async def test_locked_and_password_change_required_are_reported(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 2})
        async with running_auth(settings) as client:
            api = watched(client)
            admin = await api.admin_headers()
            user_id = await api.create_user("state-user", PASSWORD, ["AGENT"])

            async def state() -> tuple[bool, bool]:
                got = (await api.http.get(f"/auth/users/{user_id}", headers=admin)).json()
                return got["locked"], got["password_change_required"]

            assert await state() == (False, False)
            for _ in range(2):
                await login_response(api, "state-user", WRONG_PASSWORD)
            assert await state() == (True, False)

            await api.http.post(f"/auth/users/{user_id}/unlock", headers=admin)
            assert await state() == (False, False)

            reset = await api.http.post(f"/auth/users/{user_id}/password-reset", headers=admin)
            assert reset.status_code == 200
            assert await state() == (False, True)
            listed = await api.http.get("/auth/users", params={"q": "state-user"}, headers=admin)
            assert listed.json()["items"][0]["password_change_required"] is True
            assert "locked" not in listed.json()["items"][0]

            tokens = await api.login("state-user", reset.json()["generated_password"])
            changed = await api.http.post(
                "/auth/password",
                json={
                    "current_password": reset.json()["generated_password"],
                    "new_password": "Brand-New-Passphrase-93",
                },
                headers=bearer(tokens),
            )
            assert changed.status_code == 200, changed.text
            assert await state() == (False, False)


class TestTemporaryPasswordAtCreation:
    async def test_a_user_created_with_a_temporary_password_must_change_it(
        self, api: AuthClient
    ) -> None:
        admin = await api.admin_headers()
        body = {**registration_body("temp-at-birth", PASSWORD, ["AGENT"]), "temporary": True}

        created = await api.http.post("/auth/register", json=body, headers=admin)

        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        got = (await api.http.get(f"/auth/users/{user_id}", headers=admin)).json()
        assert got["password_change_required"] is True
        tokens = await api.login("temp-at-birth", PASSWORD)
        me = await api.http.get("/auth/me", headers=bearer(tokens))
        assert me.json()["password_change_required"] is True
        assert me.json()["roles"] == []
        assert_error(
            await api.http.get("/auth/sessions", headers=bearer(tokens)),
            403,
            "password_change_required",
        )

    async def test_without_it_the_password_is_the_users_own(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("kept-at-birth", PASSWORD, ["AGENT"])

        got = (await api.http.get(f"/auth/users/{user_id}", headers=admin)).json()

        assert got["password_change_required"] is False
        tokens = await api.login("kept-at-birth", PASSWORD)
        me = (await api.http.get("/auth/me", headers=bearer(tokens))).json()
        assert me["password_change_required"] is False
        assert me["roles"] == ["AGENT"]


class TestAuditCursor:
    async def test_before_pages_through_the_log_without_offsets(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("cursor-target", PASSWORD, ["AGENT"])
        for name in ("A", "B", "C", "D", "E"):
            await api.http.patch(f"/auth/users/{user_id}", json={"first_name": name}, headers=admin)

        async def page(**params: Any) -> dict[str, Any]:
            response = await api.http.get(
                "/auth/audit", params={"target_id": user_id, **params}, headers=admin
            )
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        everything = await page(limit=50)
        first = await page(limit=2)
        second = await page(limit=2, before=first["items"][-1]["id"])
        third = await page(limit=2, before=second["items"][-1]["id"])

        ids = [e["id"] for e in everything["items"]]
        assert len(ids) == 6  # created, five updates
        assert [e["id"] for p in (first, second, third) for e in p["items"]] == ids[:6]
        assert (first["total"], second["total"], third["total"]) == (6, 4, 2)
        assert (await page(before=ids[-1]))["items"] == []
        bad = await api.http.get("/auth/audit", params={"before": 0}, headers=admin)
        assert_error(bad, 422, "validation_error")
