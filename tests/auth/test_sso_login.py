"""Single sign-on end to end: the auth app as OpenID Connect relying party against a real
OIDC provider served over HTTP (``tests/auth/oidc_provider.py``): the redirect to the
provider, and the users a login provisions, links and keeps in sync.

The browser's part is played as ``tests/auth/sso_flow.py`` describes.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from tests.auth.conftest import AuthClient, auth_settings, bearer, running_auth
from tests.auth.oidc_provider import FakeOIDCProvider
from tests.auth.sso_flow import (
    CALLBACK,
    CLIENT,
    PARTNER_CALLBACK,
    corp_provider,
    query_of,
    sso_login,
    sso_tokens,
    start_login,
    users_named,
)
from tests.auth.support import access_claims, error_code


class TestLoginRedirect:
    async def test_redirects_to_the_provider_with_pkce_state_and_nonce(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider
    ) -> None:
        location = await start_login(sso_embedded)
        assert location.split("?", 1)[0] == f"{idp.issuer}/authorize"
        query = query_of(location)
        assert query["response_type"] == "code"
        assert query["client_id"] == CLIENT["client_id"]
        assert query["redirect_uri"] == CALLBACK
        assert "openid" in query["scope"].split()
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43  # base64url of a SHA-256 digest
        assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
        again = query_of(await start_login(sso_embedded))
        assert {again["state"], again["nonce"], again["code_challenge"]}.isdisjoint(
            {query["state"], query["nonce"], query["code_challenge"]}
        )

    async def test_unknown_provider_is_404(self, sso_embedded: AuthClient) -> None:
        for path in ("/auth/sso/nope/login", "/auth/sso/nope/callback?code=x&state=y"):
            response = await sso_embedded.http.get(path)
            assert response.status_code == 404, path
            assert error_code(response) == "sso_provider_not_found"


class TestProvisioning:
    async def test_first_login_provisions_the_user_with_mapped_roles(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-supervisors", "unrelated"]
        response = await sso_login(sso, browser)
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
        claims = access_claims(tokens)
        assert claims["roles"] == ["SUPERVISOR"]
        assert claims["amr"] == ["sso"]
        assert idp.calls["token"] == 1

        me = await sso.http.get("/auth/me", headers=bearer(tokens))
        assert me.status_code == 200, me.text
        profile = me.json()
        assert profile["username"] == "alice"
        assert profile["email"] == "alice@example.com"
        assert (profile["first_name"], profile["last_name"]) == ("Alice", "Example")
        assert profile["roles"] == ["SUPERVISOR"]
        assert profile["id"] == claims["sub"]
        assert "users:read" in profile["permissions"]
        assert "users:manage" not in profile["permissions"]

        refreshed = await sso.http.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert access_claims(refreshed.json())["roles"] == ["SUPERVISOR"]

    async def test_second_login_links_the_same_user_and_resyncs_roles(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-supervisors"]
        first = await sso_tokens(sso, browser)
        user_id = access_claims(first)["sub"]

        same = await sso_tokens(sso, browser)
        assert access_claims(same)["sub"] == user_id
        assert access_claims(same)["sid"] != access_claims(first)["sid"]

        idp.next_user["groups"] = ["cc-agents"]
        idp.next_user["email"] = "alice.new@example.com"  # the link is the subject, not email
        moved = await sso_tokens(sso, browser)
        assert access_claims(moved)["sub"] == user_id
        assert access_claims(moved)["roles"] == ["AGENT"]
        me = (await sso.http.get("/auth/me", headers=bearer(moved))).json()
        assert me["roles"] == ["AGENT"]
        assert "users:read" not in me["permissions"]

        idp.next_user["groups"] = ["cc-agents", "cc-supervisors"]
        both = await sso_tokens(sso, browser)
        assert access_claims(both)["roles"] == ["SUPERVISOR", "AGENT"]

        found = await users_named(sso, "alice")
        assert [u["id"] for u in found] == [user_id]
        assert sorted(found[0]["roles"]) == ["AGENT", "SUPERVISOR"]

    async def test_a_downgrade_at_the_idp_ends_the_old_tokens_privileges(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-supervisors"]
        old = await sso_tokens(sso, browser)
        assert (await sso.http.get("/auth/me", headers=bearer(old))).status_code == 200

        idp.next_user["groups"] = ["cc-agents"]
        await sso_tokens(sso, browser)
        # Like a role change by an admin: the earlier access token no longer works, and
        # refreshing that session yields the new roles.
        stale = await sso.http.get("/auth/me", headers=bearer(old))
        assert stale.status_code == 401
        assert error_code(stale) == "token_revoked"
        refreshed = await sso.http.post(
            "/auth/refresh", json={"refresh_token": old["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert access_claims(refreshed.json())["roles"] == ["AGENT"]

    async def test_no_mapped_group_and_no_default_role_is_refused(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["marketing"]
        response = await sso_login(sso, browser)
        assert response.status_code == 403
        assert error_code(response) == "sso_no_role"
        assert await users_named(sso, "alice") == []

        idp.next_user.pop("groups")  # type: ignore[misc]
        response = await sso_login(sso, browser)
        assert response.status_code == 403
        assert error_code(response) == "sso_no_role"
        assert await users_named(sso, "alice") == []

    async def test_default_role_from_the_environment_applies_without_a_mapped_group(
        self,
        tmp_path: Path,
        idp: FakeOIDCProvider,
        browser: httpx2.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        partner = {
            **corp_provider(idp.issuer),
            "name": "partner",
            "redirect_uri": PARTNER_CALLBACK,
            "default_role": "viewer",
        }
        providers = [corp_provider(idp.issuer), partner]
        monkeypatch.setenv("AICC_AUTH_SSO_PROVIDERS", json.dumps(providers))
        async with running_auth(auth_settings(tmp_path)) as auth:
            idp.next_user["groups"] = ["marketing"]
            refused = await sso_login(auth, browser, "corp")
            assert error_code(refused) == "sso_no_role"

            tokens = await sso_tokens(auth, browser, "partner")
            assert access_claims(tokens)["roles"] == ["VIEWER"]

            # A mapped group wins over the default role.
            idp.next_user["groups"] = ["cc-agents"]
            tokens = await sso_tokens(auth, browser, "partner")
            assert access_claims(tokens)["roles"] == ["AGENT"]
            me = (await auth.http.get("/auth/me", headers=bearer(tokens))).json()
            assert me["username"] == "alice" and me["roles"] == ["AGENT"]

    async def test_a_local_account_with_the_same_email_is_not_taken_over(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        local_id = await sso_embedded.create_user("alice", "Local-account-Passphrase-5", ["viewer"])
        idp.next_user["groups"] = ["cc-supervisors"]
        response = await sso_login(sso_embedded, browser)
        assert response.status_code == 403
        assert error_code(response) == "sso_email_conflict"
        found = await users_named(sso_embedded, "alice")
        assert [(u["id"], u["roles"]) for u in found] == [(local_id, ["VIEWER"])]

    async def test_an_sso_user_has_no_password(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-agents"]
        tokens = await sso_tokens(sso_embedded, browser)
        change = await sso_embedded.http.post(
            "/auth/password",
            json={"current_password": "anything", "new_password": "Another-long-Passphrase-77"},
            headers=bearer(tokens),
        )
        assert change.status_code == 403, change.text
        assert error_code(change) == "no_password"
        login = await sso_embedded.http.post(
            "/auth/login", json={"username": "alice", "password": "anything"}
        )
        assert login.status_code == 401
        assert error_code(login) == "invalid_credentials"

    async def test_the_login_is_audited_with_the_provider(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-agents"]
        user_id = access_claims(await sso_tokens(sso_embedded, browser))["sub"]
        response = await sso_embedded.http.get(
            "/auth/audit",
            params={"event": "login", "target_id": user_id},
            headers=await sso_embedded.admin_headers(),
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert len(items) == 1
        assert items[0]["outcome"] == "success"
        assert items[0]["details"]["provider"] == "corp"
        assert items[0]["details"]["amr"] == "sso"
        created = await sso_embedded.http.get(
            "/auth/audit",
            params={"event": "user_created", "target_id": user_id},
            headers=await sso_embedded.admin_headers(),
        )
        assert created.json()["items"][0]["details"]["source"] == "corp"
