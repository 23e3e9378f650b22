"""Registration and roles: who may create whom, what each role may do, and how role
changes reach tokens already issued."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from aicc.core.permissions import ROLE_PERMISSIONS, Role
from tests.auth.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    AuthClient,
    auth_settings,
    bearer,
    running_auth,
)
from tests.auth.support import claims_of

PASSWORD = "Blue-Lantern-Evening-3"


def registration(username: str, roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
        "first_name": "Min",
        "last_name": "Kim",
        **extra,
    }
    if roles is not None:
        body["roles"] = roles
    return body


class TestRegister:
    async def test_spec_body_with_lower_case_role(self, auth: AuthClient) -> None:
        response = await auth.http.post(
            "/auth/register",
            json=registration("agent001", ["agent"]),
            headers=await auth.admin_headers(),
        )
        assert response.status_code == 201
        assert response.json()["roles"] == ["AGENT"]
        tokens = await auth.login("agent001", PASSWORD)
        assert claims_of(tokens["access_token"])["roles"] == ["AGENT"]

    async def test_needs_a_token_with_users_manage(self, auth_embedded: AuthClient) -> None:
        anonymous = await auth_embedded.http.post("/auth/register", json=registration("x-user"))
        assert anonymous.status_code == 401
        agent = await auth_embedded.user_headers("plain-agent", PASSWORD, ["agent"])
        denied = await auth_embedded.http.post(
            "/auth/register", json=registration("y-user"), headers=agent
        )
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"

    @pytest.mark.parametrize(
        "field", [{"id": "x"}, {"is_active": False}, {"created_at": "2020-01-01"}]
    )
    async def test_client_cannot_set_server_fields(
        self, auth_embedded: AuthClient, field: dict[str, Any]
    ) -> None:
        response = await auth_embedded.http.post(
            "/auth/register",
            json=registration("sneaky", **field),
            headers=await auth_embedded.admin_headers(),
        )
        assert response.status_code == 422

    @pytest.mark.parametrize(
        ("password", "code"),
        [
            ("short1", "password_too_short"),
            ("password123", "password_common"),
            ("x" * 1025, "validation_error"),
            ("newhire-agent-2024", "password_contains_username"),
        ],
    )
    async def test_password_policy(
        self, auth_embedded: AuthClient, password: str, code: str
    ) -> None:
        response = await auth_embedded.http.post(
            "/auth/register",
            json={**registration("newhire-agent"), "password": password},
            headers=await auth_embedded.admin_headers(),
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code

    async def test_long_passphrase_without_composition_rules(
        self, auth_embedded: AuthClient
    ) -> None:
        passphrase = "correct horse battery staple on the evening shift " * 2
        await auth_embedded.create_user("passphrase-user", passphrase, ["viewer"])
        assert (await auth_embedded.login("passphrase-user", passphrase))["access_token"]

    async def test_duplicate_username_or_email(self, auth: AuthClient) -> None:
        admin = await auth.admin_headers()
        await auth.http.post("/auth/register", json=registration("dup-user"), headers=admin)
        again = await auth.http.post("/auth/register", json=registration("DUP-USER"), headers=admin)
        assert again.status_code == 409 and again.json()["error"]["code"] == "user_exists"

    async def test_unknown_role(self, auth_embedded: AuthClient) -> None:
        response = await auth_embedded.http.post(
            "/auth/register",
            json=registration("role-typo", ["agnet"]),
            headers=await auth_embedded.admin_headers(),
        )
        assert response.status_code == 422


class TestSeveralRoles:
    async def test_a_login_carries_every_role(self, auth: AuthClient) -> None:
        await auth.create_user("two-hats", PASSWORD, ["supervisor", "agent"])
        tokens = await auth.login("two-hats", PASSWORD)
        assert claims_of(tokens["access_token"])["roles"] == ["AGENT", "SUPERVISOR"]


class TestGrantRules:
    async def test_admin_grants_only_below_admin(self, auth: AuthClient) -> None:
        admin = await auth.user_headers("ops-admin", PASSWORD, ["admin"])
        for role, status in [("supervisor", 201), ("admin", 403), ("super_admin", 403)]:
            response = await auth.http.post(
                "/auth/register", json=registration(f"by-admin-{role}", [role]), headers=admin
            )
            assert response.status_code == status, (role, response.text)
        escalate = await auth.http.post(
            "/auth/register",
            json=registration("second-root", ["super_admin"]),
            headers=await auth.admin_headers(),
        )
        assert escalate.status_code == 201

    async def test_self_registration_is_off_by_default_and_gives_the_lowest_role(
        self, tmp_path: Path
    ) -> None:
        async with running_auth(
            auth_settings(tmp_path, **{"auth.self_registration": True})
        ) as auth:
            response = await auth.http.post(
                "/auth/register", json=registration("walk-in", ["super_admin"])
            )
            assert response.status_code == 201
            assert response.json()["roles"] == ["VIEWER"]


class TestRoleChanges:
    async def test_new_roles_reach_tokens_already_issued(self, auth: AuthClient) -> None:
        user_id = await auth.create_user("promoted", PASSWORD, ["agent"])
        tokens = await auth.login("promoted", PASSWORD)
        admin = await auth.admin_headers()
        changed = await auth.http.put(
            f"/auth/users/{user_id}/roles", json={"roles": ["supervisor"]}, headers=admin
        )
        assert changed.status_code == 200 and changed.json()["roles"] == ["SUPERVISOR"]
        stale = await auth.http.get("/auth/me", headers=bearer(tokens))
        assert stale.status_code == 401 and stale.json()["error"]["code"] == "token_revoked"
        fresh = (
            await auth.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).json()
        me = (await auth.http.get("/auth/me", headers=bearer(fresh))).json()
        assert me["roles"] == ["SUPERVISOR"]
        assert "recordings:download" in me["permissions"]


class TestPermissionMap:
    def test_each_role_includes_the_ones_below(self) -> None:
        ladder = [Role.VIEWER, Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.SUPER_ADMIN]
        for lower, higher in itertools.pairwise(ladder):
            assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]

    async def test_me_lists_the_permissions_of_the_role(self, auth_embedded: AuthClient) -> None:
        viewer = await auth_embedded.user_headers("read-only", PASSWORD, ["viewer"])
        me = (await auth_embedded.http.get("/auth/me", headers=viewer)).json()
        assert set(me["permissions"]) == ROLE_PERMISSIONS[Role.VIEWER]
        assert "password_hash" not in me and "totp_secret" not in me


async def test_spec_python_api_round_trip(tmp_path: Path) -> None:
    """The spec's example: AuthService(config), register_user, authenticate_user, refresh."""
    from aicc.auth import AuthService

    service = AuthService(
        {
            "database_url": f"sqlite:///{tmp_path / 'auth.db'}",
            "jwt_secret": "your-super-secret-jwt-key-here-32b!",
            "data_dir": str(tmp_path / "var"),
            "auth.bootstrap_admin_password": ADMIN_PASSWORD,
        }
    )
    await service.start()
    try:
        user_id = await service.register_user(
            username="agent001",
            email="agent@company.com",
            password="SecurePass123!x",
            roles=["agent"],
        )
        result = await service.authenticate_user(
            username="agent001", password="SecurePass123!x", ip_address="192.168.1.100"
        )
        assert set(result) == {"access_token", "refresh_token", "token_type", "expires_in"}
        principal = await service.token_verifier.verify(result["access_token"])
        assert principal.user_id == user_id and principal.roles == ("AGENT",)
        renewed = await service.refresh_token(result["refresh_token"])
        assert renewed["access_token"] != result["access_token"]
        assert ADMIN_USERNAME != "agent001"
    finally:
        await service.stop()
