"""Role rules of user administration through the HTTP API: the role hierarchy, the last
SUPER_ADMIN, and the permissions every administration route needs.

Every response in these tests passes through ``no_secrets`` (see ``tests/auth/admin_api.py``)."""

from __future__ import annotations

from typing import Any

from tests.auth.admin_api import PASSWORD, UNKNOWN_ID, user_routes
from tests.auth.conftest import AuthClient, bearer
from tests.auth.support import assert_error, error_code, registration_body


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
                json=registration_body("new-admin-attempt", PASSWORD, roles),
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
            ("POST", "/auth/register", registration_body("perm-made", PASSWORD, ["VIEWER"])),
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
