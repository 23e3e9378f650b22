"""User administration and the audit log through the HTTP API: search, profile changes,
disable/enable, unlock, password reset, ending sessions, the role hierarchy, the last
SUPER_ADMIN, permissions, and what the audit log records.

Every response in these tests passes through ``no_secrets``: no body may carry a password
hash, a TOTP secret or a refresh-token hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pyotp
import pytest

from tests.auth.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    AuthClient,
    auth_settings,
    bearer,
    running_auth,
)

PASSWORD = "Admin-Test-Passphrase-31"
WRONG_PASSWORD = "Definitely-Wrong-Guess-64"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
FORBIDDEN_KEYS = frozenset({"password_hash", "totp_secret", "totp_pending_secret", "token_hash"})


def keys_in(value: Any) -> set[str]:
    """Every object key anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(v) for v in value))
    return set()


async def no_secrets(response: httpx2.Response) -> None:
    """No body carries a hash or secret key, nor an argon2 hash anywhere."""
    await response.aread()
    where = f"{response.request.method} {response.request.url.path}"
    assert "$argon2" not in response.text, where
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        leaked = keys_in(response.json()) & FORBIDDEN_KEYS
        assert not leaked, f"{where} returned {sorted(leaked)}"


def watched(client: AuthClient) -> AuthClient:
    client.http.event_hooks["response"].append(no_secrets)
    return client


@pytest.fixture
def api(auth: AuthClient) -> AuthClient:
    """The app on both backends, every response checked for secrets."""
    return watched(auth)


@pytest.fixture
def api_embedded(auth_embedded: AuthClient) -> AuthClient:
    return watched(auth_embedded)


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def assert_error(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text


async def login_response(
    api: AuthClient, username: str, password: str = PASSWORD, **headers: str
) -> httpx2.Response:
    return await api.http.post(
        "/auth/login", json={"username": username, "password": password}, headers=headers
    )


async def user_id_of(api: AuthClient, username: str) -> str:
    page = await api.http.get(
        "/auth/users", params={"q": username}, headers=await api.admin_headers()
    )
    (match,) = [u for u in page.json()["items"] if u["username"] == username]
    found: str = match["id"]
    return found


async def audit_page(api: AuthClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.http.get("/auth/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def user_routes(base: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every administration route on one user: method, path and body."""
    return [
        ("GET", base, None),
        ("PATCH", base, {"first_name": "X"}),
        ("DELETE", base, None),
        ("PUT", f"{base}/roles", {"roles": ["AGENT"]}),
        ("POST", f"{base}/disable", None),
        ("POST", f"{base}/enable", None),
        ("POST", f"{base}/unlock", None),
        ("POST", f"{base}/password-reset", {}),
        ("DELETE", f"{base}/sessions", None),
    ]


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

        assert_error(unknown_role, 422, "invalid_role")
        assert_error(too_many, 422, "validation_error")
        assert_error(negative, 422, "validation_error")


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
        assert_error(await login_response(api, "record-user"), 401, "invalid_credentials")
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
        assert (await login_response(api, "patch-guard")).status_code == 200

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
        refused = await login_response(api, "toggle-user")
        assert_error(refused, 401, "invalid_credentials")
        unknown = await login_response(api, "no-such-user-at-all")
        assert refused.json()["error"]["message"] == unknown.json()["error"]["message"]

        enabled = await api.http.post(f"/auth/users/{user_id}/enable", headers=admin)

        assert enabled.status_code == 200
        assert enabled.json()["is_active"] is True
        again = await login_response(api, "toggle-user")
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
            assert_error(await login_response(api, "locked-user"), 401, "invalid_credentials")

            unlocked = await api.http.post(f"/auth/users/{user_id}/unlock", headers=admin)

            assert unlocked.status_code == 204
            ok = await login_response(api, "locked-user")
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
        assert_error(await login_response(api, "reset-user"), 401, "invalid_credentials")
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
        assert (await login_response(api, "sessions-user")).status_code == 200


class TestRoleHierarchy:
    async def test_an_admin_cannot_administer_a_super_admin_or_another_admin(
        self, api: AuthClient
    ) -> None:
        root_id = (await api.http.get("/auth/me", headers=await api.admin_headers())).json()["id"]
        other_admin = await api.create_user("other-admin", PASSWORD, ["ADMIN"])
        acting = await api.user_headers("acting-admin", PASSWORD, ["ADMIN"])

        for target in (root_id, other_admin):
            base = f"/auth/users/{target}"
            for method, url, body in [
                ("PATCH", base, {"first_name": "Hijacked"}),
                ("PUT", f"{base}/roles", {"roles": ["VIEWER"]}),
                ("POST", f"{base}/disable", None),
                ("POST", f"{base}/unlock", None),
                ("POST", f"{base}/password-reset", {}),
                ("DELETE", f"{base}/sessions", None),
                ("DELETE", base, None),
            ]:
                response = await api.http.request(method, url, json=body, headers=acting)
                assert_error(response, 403, "role_not_allowed")

        root = (await api.http.get(f"/auth/users/{root_id}", headers=acting)).json()
        assert root["is_active"] is True
        assert root["roles"] == ["SUPER_ADMIN"]
        assert root["first_name"] == ""
        assert (
            await api.http.get("/auth/me", headers=await api.admin_headers())
        ).status_code == 200

    async def test_an_admin_cannot_grant_admin_or_super_admin(self, api: AuthClient) -> None:
        acting = await api.user_headers("granting-admin", PASSWORD, ["ADMIN"])
        agent = await api.create_user("to-promote", PASSWORD, ["AGENT"])

        for roles in (["ADMIN"], ["SUPER_ADMIN"], ["AGENT", "ADMIN"]):
            promoted = await api.http.put(
                f"/auth/users/{agent}/roles", json={"roles": roles}, headers=acting
            )
            assert_error(promoted, 403, "role_not_allowed")
            registered = await api.http.post(
                "/auth/register",
                json={
                    "username": "new-admin-attempt",
                    "email": "new-admin-attempt@example.com",
                    "password": PASSWORD,
                    "roles": roles,
                },
                headers=acting,
            )
            assert_error(registered, 403, "role_not_allowed")

        allowed = await api.http.put(
            f"/auth/users/{agent}/roles", json={"roles": ["supervisor"]}, headers=acting
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["roles"] == ["SUPERVISOR"]

    async def test_an_admin_manages_users_below_it(self, api_embedded: AuthClient) -> None:
        api = api_embedded
        acting = await api.user_headers("managing-admin", PASSWORD, ["ADMIN"])
        target = await api.create_user("managed-agent", PASSWORD, ["AGENT"])

        for method, url, body, status in [
            ("PATCH", f"/auth/users/{target}", {"last_name": "Managed"}, 200),
            ("POST", f"/auth/users/{target}/disable", None, 200),
            ("POST", f"/auth/users/{target}/enable", None, 200),
            ("POST", f"/auth/users/{target}/unlock", None, 204),
            ("DELETE", f"/auth/users/{target}/sessions", None, 200),
            ("POST", f"/auth/users/{target}/password-reset", {}, 200),
            ("DELETE", f"/auth/users/{target}", None, 204),
        ]:
            response = await api.http.request(method, url, json=body, headers=acting)
            assert response.status_code == status, (method, url, response.text)

    async def test_a_role_change_applies_to_the_users_next_token_at_once(
        self, api: AuthClient
    ) -> None:
        admin = await api.admin_headers()
        user_id = await api.create_user("demoted-supervisor", PASSWORD, ["SUPERVISOR"])
        tokens = await api.login("demoted-supervisor", PASSWORD)

        changed = await api.http.put(
            f"/auth/users/{user_id}/roles", json={"roles": ["VIEWER"]}, headers=admin
        )

        assert changed.status_code == 200
        assert_error(await api.http.get("/auth/me", headers=bearer(tokens)), 401, "token_revoked")
        refreshed = await api.http.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        me = await api.http.get("/auth/me", headers=bearer(refreshed.json()))
        assert me.json()["roles"] == ["VIEWER"]
        assert "users:read" not in me.json()["permissions"]


class TestLastSuperAdmin:
    async def test_the_last_super_admin_cannot_be_demoted_disabled_or_deleted(
        self, api: AuthClient
    ) -> None:
        admin = await api.admin_headers()
        root_id = (await api.http.get("/auth/me", headers=admin)).json()["id"]
        base = f"/auth/users/{root_id}"

        demoted = await api.http.put(f"{base}/roles", json={"roles": ["ADMIN"]}, headers=admin)
        disabled = await api.http.post(f"{base}/disable", headers=admin)
        deleted = await api.http.delete(base, headers=admin)

        for response in (demoted, disabled, deleted):
            assert_error(response, 409, "last_super_admin")
        me = await api.http.get("/auth/me", headers=admin)
        assert me.status_code == 200
        assert me.json()["roles"] == ["SUPER_ADMIN"]
        assert me.json()["is_active"] is True

    async def test_with_a_second_super_admin_one_can_be_demoted(self, api: AuthClient) -> None:
        root = await api.admin_headers()
        root_id = (await api.http.get("/auth/me", headers=root)).json()["id"]
        second_id = await api.create_user("second-super", PASSWORD, ["SUPER_ADMIN"])
        second = bearer(await api.login("second-super", PASSWORD))

        demoted = await api.http.put(
            f"/auth/users/{root_id}/roles", json={"roles": ["ADMIN"]}, headers=second
        )

        assert demoted.status_code == 200, demoted.text
        assert demoted.json()["roles"] == ["ADMIN"]
        last = await api.http.put(
            f"/auth/users/{second_id}/roles", json={"roles": ["ADMIN"]}, headers=second
        )
        assert_error(last, 409, "last_super_admin")

    async def test_a_disabled_super_admin_does_not_count_as_another_one(
        self, api_embedded: AuthClient
    ) -> None:
        api = api_embedded
        root = await api.admin_headers()
        root_id = (await api.http.get("/auth/me", headers=root)).json()["id"]
        spare = await api.create_user("spare-super", PASSWORD, ["SUPER_ADMIN"])
        assert (
            await api.http.post(f"/auth/users/{spare}/disable", headers=root)
        ).status_code == 200

        response = await api.http.post(f"/auth/users/{root_id}/disable", headers=root)

        assert_error(response, 409, "last_super_admin")


class TestPermissions:
    async def test_lower_roles_are_denied_every_admin_route(self, api: AuthClient) -> None:
        target = await api.create_user("perm-target", PASSWORD, ["VIEWER"])
        base = f"/auth/users/{target}"
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", "/auth/users", None),
            *user_routes(base),
            ("GET", "/auth/audit", None),
            (
                "POST",
                "/auth/register",
                {
                    "username": "perm-made",
                    "email": "perm-made@example.com",
                    "password": PASSWORD,
                    "roles": ["VIEWER"],
                },
            ),
        ]
        for role in ("SUPERVISOR", "AGENT", "VIEWER"):
            headers = await api.user_headers(f"perm-{role.lower()}", PASSWORD, [role])
            for method, url, body in calls:
                response = await api.http.request(method, url, json=body, headers=headers)
                assert response.status_code == 403, (role, method, url, response.text)
                assert error_code(response) == "permission_denied", (role, method, url)

        still = (await api.http.get(base, headers=await api.admin_headers())).json()
        assert still["is_active"] is True
        assert still["first_name"] == ""

    async def test_admin_routes_need_a_token(self, api_embedded: AuthClient) -> None:
        api = api_embedded
        for method, url in [
            ("GET", "/auth/users"),
            ("GET", f"/auth/users/{UNKNOWN_ID}"),
            ("POST", f"/auth/users/{UNKNOWN_ID}/disable"),
            ("GET", "/auth/audit"),
        ]:
            response = await api.http.request(method, url)
            assert_error(response, 401, "missing_token")


class TestNoSecretsInResponses:
    async def test_user_and_audit_responses_never_carry_hashes_or_secrets(
        self, api: AuthClient
    ) -> None:
        bodies: list[str] = []

        async def keep(response: httpx2.Response) -> None:
            bodies.append(response.text)

        api.http.event_hooks["response"].append(keep)
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


class TestAuditLog:
    async def test_reading_the_audit_log_needs_audit_read(self, api: AuthClient) -> None:
        for role in ("VIEWER", "AGENT", "SUPERVISOR"):
            headers = await api.user_headers(f"audit-{role.lower()}", PASSWORD, [role])
            assert_error(
                await api.http.get("/auth/audit", headers=headers), 403, "permission_denied"
            )
        admin = await api.user_headers("audit-admin", PASSWORD, ["ADMIN"])
        assert (await api.http.get("/auth/audit", headers=admin)).status_code == 200

    async def test_security_events_are_listed_newest_first_and_filtered(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as client:
            api = watched(client)
            admin = await api.admin_headers()
            root_id = (await api.http.get("/auth/me", headers=admin)).json()["id"]
            user_id = await api.create_user("audited-user", PASSWORD, ["AGENT"])
            probe = {"User-Agent": "Audit-Probe/1.0"}
            failed = await login_response(api, "audited-user", WRONG_PASSWORD, **probe)
            assert failed.status_code == 401
            assert (await login_response(api, "audited-user", **probe)).status_code == 200
            mark = datetime.now(UTC)
            changed = await api.http.put(
                f"/auth/users/{user_id}/roles", json={"roles": ["SUPERVISOR"]}, headers=admin
            )
            assert changed.status_code == 200
            for _ in range(3):
                await login_response(api, "audited-user", WRONG_PASSWORD, **probe)

            everything = await audit_page(api, admin, limit=200)

            items = everything["items"]
            assert everything["total"] == len(items)
            assert [e["id"] for e in items] == sorted((e["id"] for e in items), reverse=True)
            times = [datetime.fromisoformat(e["at"]) for e in items]
            assert times == sorted(times, reverse=True)
            assert items[0]["event"] == "account_locked"
            for text in (PASSWORD, WRONG_PASSWORD, ADMIN_PASSWORD, "$argon2"):
                assert text not in str(everything)

            failures = await audit_page(
                api, admin, event="login", outcome="failure", target_id=user_id
            )
            assert failures["total"] == 4
            for event in failures["items"]:
                assert (event["event"], event["outcome"]) == ("login", "failure")
                assert event["target_id"] == user_id
                assert event["ip_address"] == "127.0.0.1"
                assert event["user_agent"] == "Audit-Probe/1.0"

            (success,) = (
                await audit_page(api, admin, event="login", outcome="success", target_id=user_id)
            )["items"]
            assert success["ip_address"] == "127.0.0.1"
            assert success["user_agent"] == "Audit-Probe/1.0"
            assert success["actor_id"] == user_id

            (change,) = (await audit_page(api, admin, event="roles_changed"))["items"]
            assert change["target_id"] == user_id
            assert change["actor_id"] == root_id
            assert change["details"]["before"] == ["AGENT"]
            assert change["details"]["after"] == ["SUPERVISOR"]

            (locked,) = (await audit_page(api, admin, event="account_locked"))["items"]
            assert locked["target_id"] == user_id
            assert locked["user_agent"] == "Audit-Probe/1.0"

            about_user = await audit_page(api, admin, target_id=user_id, limit=200)
            assert {e["target_id"] for e in about_user["items"]} == {user_id}
            assert {"user_created", "login", "roles_changed", "account_locked"} <= {
                e["event"] for e in about_user["items"]
            }

            recent = await audit_page(api, admin, since=mark.isoformat(), limit=200)
            recent_events = [e["event"] for e in recent["items"]]
            assert "roles_changed" in recent_events
            assert "user_created" not in recent_events
            assert recent_events.count("login") == 3
            assert all(datetime.fromisoformat(e["at"]) >= mark for e in recent["items"])
            seoul = mark.astimezone(timezone(timedelta(hours=9))).isoformat()
            naive_utc = mark.replace(tzinfo=None).isoformat()
            for since in (seoul, naive_utc):
                same_instant = await audit_page(api, admin, since=since, limit=200)
                assert [e["id"] for e in same_instant["items"]] == [
                    e["id"] for e in recent["items"]
                ], since
            before_mark = await audit_page(api, admin, until=seoul, limit=200)
            assert before_mark["total"] + recent["total"] == everything["total"]
            assert "user_created" in [e["event"] for e in before_mark["items"]]

            paged = await audit_page(api, admin, limit=2, offset=1)
            assert paged["total"] == everything["total"]
            assert (paged["limit"], paged["offset"]) == (2, 1)
            assert [e["id"] for e in paged["items"]] == [e["id"] for e in items[1:3]]

    async def test_admin_actions_are_recorded_with_their_actor(
        self, api_embedded: AuthClient
    ) -> None:
        api = api_embedded
        acting = await api.user_headers("acting-auditor", PASSWORD, ["ADMIN"])
        acting_id = (await api.http.get("/auth/me", headers=acting)).json()["id"]
        target = await api.create_user("acted-on", PASSWORD, ["AGENT"])
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", f"/auth/users/{target}/disable", None),
            ("POST", f"/auth/users/{target}/enable", None),
            ("POST", f"/auth/users/{target}/unlock", None),
            ("POST", f"/auth/users/{target}/password-reset", {}),
            ("DELETE", f"/auth/users/{target}", None),
        ]
        for method, url, body in calls:
            response = await api.http.request(method, url, json=body, headers=acting)
            assert response.status_code < 300, response.text

        page = await audit_page(api, acting, actor_id=acting_id, target_id=target)

        assert [e["event"] for e in page["items"]] == [
            "user_deleted",
            "password_reset",
            "account_unlocked",
            "user_enabled",
            "user_disabled",
        ]
        assert page["items"][1]["details"] == {"generated": True}
