"""User administration through the HTTP API: search, the user record, disable/enable,
unlock, password reset, ending a user's sessions, and no secrets in any response.

Every response in these tests passes through ``no_secrets`` (see ``tests/auth/admin_api.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp

from tests.auth.admin_api import PASSWORD, UNKNOWN_ID, WRONG_PASSWORD, user_routes, watched
from tests.auth.conftest import ADMIN_USERNAME, AuthClient, auth_settings, bearer, running_auth
from tests.auth.support import assert_error, error_code, kept_bodies, login_response


class TestUserSearch:
    async def test_search_by_text_role_and_activity_with_pagination(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        await api.create_user("alice-agent", PASSWORD, ["AGENT"], first_name="Alice")
        await api.create_user("bob-super", PASSWORD, ["SUPERVISOR"], last_name="Builder")
        carol = await api.create_user("carol-agent", PASSWORD, ["AGENT"])
        await api.create_user("dave-viewer", PASSWORD, ["VIEWER"])
        await api.http.post(f"/auth/users/{carol}/disable", headers=admin)

        async def usernames(**params: Any) -> tuple[list[str], int]:
            response = await api.http.get("/auth/users", params=params, headers=admin)
            assert response.status_code == 200, response.text
            page = response.json()
            return [u["username"] for u in page["items"]], page["total"]

        assert await usernames(q="ALICE") == (["alice-agent"], 1)
        assert await usernames(q="builder") == (["bob-super"], 1)
        assert await usernames(q="@example.com") == (
            ["alice-agent", "bob-super", "carol-agent", "dave-viewer"],
            4,
        )
        assert await usernames(role="agent") == (["alice-agent", "carol-agent"], 2)
        assert await usernames(role="SUPER_ADMIN") == ([ADMIN_USERNAME], 1)
        assert await usernames(is_active="false") == (["carol-agent"], 1)
        assert await usernames(role="AGENT", is_active="true") == (["alice-agent"], 1)
        assert await usernames(q="nobody-has-this") == ([], 0)

        everyone, total = await usernames()
        assert total == 5
        assert everyone == sorted(everyone)
        first = await api.http.get("/auth/users", params={"limit": 2}, headers=admin)
        assert {k: first.json()[k] for k in ("total", "limit", "offset")} == {
            "total": 5,
            "limit": 2,
            "offset": 0,
        }
        pages = [(await usernames(limit=2, offset=offset))[0] for offset in (0, 2, 4)]
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [name for page in pages for name in page] == everyone
        assert await usernames(limit=2, offset=10) == ([], 5)

    async def test_listed_users_carry_their_public_fields(self, api_embedded: AuthClient) -> None:
        api = api_embedded
        await api.create_user("fields-user", PASSWORD, ["SUPERVISOR"], first_name="Fi")
        page = await api.http.get(
            "/auth/users", params={"q": "fields-user"}, headers=await api.admin_headers()
        )

        (user,) = page.json()["items"]

        assert user["roles"] == ["SUPERVISOR"]
        assert user["email"] == "fields-user@example.com"
        assert user["first_name"] == "Fi"
        assert user["is_active"] is True
        assert user["mfa_enabled"] is False

    async def test_bad_filters_are_refused(self, api_embedded: AuthClient) -> None:
        api = api_embedded
        admin = await api.admin_headers()

        unknown_role = await api.http.get("/auth/users", params={"role": "KING"}, headers=admin)
        too_many = await api.http.get("/auth/users", params={"limit": 1000}, headers=admin)
        negative = await api.http.get("/auth/users", params={"offset": -1}, headers=admin)
        huge = await api.http.get("/auth/users", params={"offset": 2**80}, headers=admin)

        assert_error(unknown_role, 422, "invalid_role")
        assert_error(too_many, 422, "validation_error")
        assert_error(negative, 422, "validation_error")
        assert_error(huge, 422, "validation_error")


class TestUserRecord:
    async def test_get_update_and_delete_a_user(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("record-user", PASSWORD, ["AGENT"])
        tokens = await api.login("record-user", PASSWORD)

        got = await api.http.get(f"/auth/users/{user_id}", headers=admin)

        assert got.status_code == 200
        assert got.json()["username"] == "record-user"
        assert got.json()["roles"] == ["AGENT"]

        patched = await api.http.patch(
            f"/auth/users/{user_id}",
            json={"first_name": "Rec", "last_name": "Ord", "email": "new-record@example.com"},
            headers=admin,
        )

        assert patched.status_code == 200, patched.text
        assert {k: patched.json()[k] for k in ("first_name", "last_name", "email")} == {
            "first_name": "Rec",
            "last_name": "Ord",
            "email": "new-record@example.com",
        }
        again = await api.http.get(f"/auth/users/{user_id}", headers=admin)
        assert again.json()["email"] == "new-record@example.com"
        assert again.json()["is_active"] is True

        deleted = await api.http.delete(f"/auth/users/{user_id}", headers=admin)

        assert deleted.status_code == 204
        assert_error(
            await api.http.get(f"/auth/users/{user_id}", headers=admin), 404, "user_not_found"
        )
        assert_error(await login_response(api, "record-user", PASSWORD), 401, "invalid_credentials")
        assert_error(await api.http.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked")

    async def test_unknown_user_ids_are_not_found_on_every_route(
        self, api_embedded: AuthClient
    ) -> None:
        api = api_embedded
        admin = await api.admin_headers()
        base = f"/auth/users/{UNKNOWN_ID}"
        calls = user_routes(base)
        for method, url, body in calls:
            response = await api.http.request(method, url, json=body, headers=admin)
            assert_error(response, 404, "user_not_found")

    async def test_patch_refuses_fields_that_are_not_profile_fields(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("patch-guard", PASSWORD, ["AGENT"])

        for field, value in [
            ("is_active", False),
            ("password_hash", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$BBBB"),
            ("roles", ["SUPER_ADMIN"]),
            ("id", UNKNOWN_ID),
            ("username", "renamed"),
            ("mfa_enabled", False),
            ("created_at", "2000-01-01T00:00:00Z"),
        ]:
            response = await api.http.patch(
                f"/auth/users/{user_id}", json={field: value}, headers=admin
            )
            assert_error(response, 422, "validation_error")

        user = (await api.http.get(f"/auth/users/{user_id}", headers=admin)).json()
        assert user["is_active"] is True
        assert user["roles"] == ["AGENT"]
        assert user["username"] == "patch-guard"
        assert (await login_response(api, "patch-guard", PASSWORD)).status_code == 200

    async def test_patch_to_an_email_in_use_is_a_conflict(self, api_embedded: AuthClient) -> None:
        api = api_embedded
        admin = await api.admin_headers()
        await api.create_user("email-owner", PASSWORD, ["AGENT"])
        other = await api.create_user("email-taker", PASSWORD, ["AGENT"])

        response = await api.http.patch(
            f"/auth/users/{other}", json={"email": "EMAIL-OWNER@example.com"}, headers=admin
        )

        assert_error(response, 409, "user_exists")


class TestDisableAndEnable:
    async def test_disabling_revokes_tokens_at_once_and_enabling_restores_login(
        self, api: AuthClient
    ) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("toggle-user", PASSWORD, ["AGENT"])
        tokens = await api.login("toggle-user", PASSWORD)
        assert (await api.http.get("/auth/me", headers=bearer(tokens))).status_code == 200

        disabled = await api.http.post(f"/auth/users/{user_id}/disable", headers=admin)

        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["is_active"] is False
        assert_error(await api.http.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked")
        refreshed = await api.http.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401
        refused = await login_response(api, "toggle-user", PASSWORD)
        assert_error(refused, 401, "invalid_credentials")
        unknown = await login_response(api, "no-such-user-at-all", PASSWORD)
        assert refused.json()["error"]["message"] == unknown.json()["error"]["message"]

        enabled = await api.http.post(f"/auth/users/{user_id}/enable", headers=admin)

        assert enabled.status_code == 200
        assert enabled.json()["is_active"] is True
        again = await login_response(api, "toggle-user", PASSWORD)
        assert again.status_code == 200, again.text
        assert (await api.http.get("/auth/me", headers=bearer(again.json()))).status_code == 200


class TestUnlock:
    async def test_unlocking_lets_the_right_password_in_after_a_lockout(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as client:
            api = watched(client)
            admin = await api.admin_headers()
            user_id = await api.create_user("locked-user", PASSWORD, ["AGENT"])
            for _ in range(3):
                assert_error(
                    await login_response(api, "locked-user", WRONG_PASSWORD),
                    401,
                    "invalid_credentials",
                )
            assert_error(
                await login_response(api, "locked-user", PASSWORD), 401, "invalid_credentials"
            )

            unlocked = await api.http.post(f"/auth/users/{user_id}/unlock", headers=admin)

            assert unlocked.status_code == 204
            ok = await login_response(api, "locked-user", PASSWORD)
            assert ok.status_code == 200, ok.text


class TestPasswordReset:
    async def test_a_generated_password_is_returned_works_and_ends_old_sessions(
        self, api: AuthClient
    ) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("reset-user", PASSWORD, ["AGENT"])
        old = await api.login("reset-user", PASSWORD)

        response = await api.http.post(
            f"/auth/users/{user_id}/password-reset", json={}, headers=admin
        )

        assert response.status_code == 200, response.text
        generated = response.json()["generated_password"]
        assert isinstance(generated, str)
        assert len(generated) >= 12
        assert_error(await api.http.get("/auth/me", headers=bearer(old)), 401, "token_revoked")
        stale = await api.http.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert stale.status_code == 401
        assert_error(await login_response(api, "reset-user", PASSWORD), 401, "invalid_credentials")
        fresh = await login_response(api, "reset-user", generated)
        assert fresh.status_code == 200, fresh.text

    async def test_a_given_password_is_checked_and_not_returned(
        self, api_embedded: AuthClient
    ) -> None:
        api = api_embedded
        admin = await api.admin_headers()
        user_id = await api.create_user("reset-given", PASSWORD, ["AGENT"])
        url = f"/auth/users/{user_id}/password-reset"

        weak = await api.http.post(url, json={"password": "password"}, headers=admin)
        chosen = await api.http.post(url, json={"password": "Chosen-By-Admin-42"}, headers=admin)

        assert weak.status_code == 422
        assert error_code(weak).startswith("password_")
        assert chosen.status_code == 200
        assert chosen.json() == {"generated_password": None}
        assert (await login_response(api, "reset-given", "Chosen-By-Admin-42")).status_code == 200


class TestEndingUserSessions:
    async def test_an_admin_ends_every_session_of_a_user(self, api: AuthClient) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("sessions-user", PASSWORD, ["AGENT"])
        first = await api.login("sessions-user", PASSWORD)
        second = await api.login("sessions-user", PASSWORD)

        response = await api.http.delete(f"/auth/users/{user_id}/sessions", headers=admin)

        assert response.status_code == 200, response.text
        assert response.json() == {"ended": 2}
        for tokens in (first, second):
            assert_error(
                await api.http.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked"
            )
        assert (await api.http.get("/auth/me", headers=admin)).status_code == 200
        assert (await login_response(api, "sessions-user", PASSWORD)).status_code == 200


class TestNoSecretsInResponses:
    async def test_user_and_audit_responses_never_carry_hashes_or_secrets(
        self, api: AuthClient
    ) -> None:
        bodies = kept_bodies(api)
        admin = await api.admin_headers()
        user_id = await api.create_user("secretive", PASSWORD, ["AGENT"])
        tokens = await api.login("secretive", PASSWORD)
        started = await api.http.post("/auth/mfa/totp", headers=bearer(tokens))
        secret = started.json()["secret"]
        confirmed = await api.http.post(
            "/auth/mfa/totp/confirm",
            json={"code": pyotp.TOTP(secret).now()},
            headers=bearer(tokens),
        )
        assert confirmed.status_code == 200
        after_enrolment = len(bodies)

        listed = await api.http.get("/auth/users", params={"q": "secretive"}, headers=admin)
        got = await api.http.get(f"/auth/users/{user_id}", headers=admin)
        await api.http.patch(f"/auth/users/{user_id}", json={"first_name": "S"}, headers=admin)
        await api.http.put(
            f"/auth/users/{user_id}/roles", json={"roles": ["VIEWER"]}, headers=admin
        )
        await api.http.post(f"/auth/users/{user_id}/password-reset", json={}, headers=admin)
        await api.http.post(f"/auth/users/{user_id}/disable", headers=admin)
        await api.http.post(f"/auth/users/{user_id}/enable", headers=admin)
        await api.http.get("/auth/audit", params={"limit": 200}, headers=admin)
        await api.http.get("/auth/sessions", headers=admin)

        assert listed.json()["items"][0]["mfa_enabled"] is True
        assert got.json()["mfa_enabled"] is True
        later = bodies[after_enrolment:]
        assert len(later) >= 9
        for body in later:
            assert secret not in body
            assert tokens["refresh_token"] not in body
