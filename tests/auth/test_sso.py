"""Single sign-on end to end: the auth app as OpenID Connect relying party against a real
OIDC provider served over HTTP (``tests/auth/oidc_provider.py``).

The browser's part is played by two clients: the ASGI client of the auth app and a real
HTTP client that follows the provider's authorize redirect by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest

from aicc.core.errors import ConfigError
from tests.auth.conftest import AuthClient, auth_settings, bearer, running_auth
from tests.auth.oidc_provider import FakeOIDCProvider, run_oidc_provider

CALLBACK = "http://testserver/auth/sso/corp/callback"
PARTNER_CALLBACK = "http://testserver/auth/sso/partner/callback"
CLIENT = {
    "client_id": "aicc-rp",
    "client_secret": "rp-secret-0123456789",
    "redirect_uris": [CALLBACK, PARTNER_CALLBACK],
}
ROLE_MAPPING = {"cc-supervisors": "SUPERVISOR", "cc-agents": "agent"}


def corp_provider(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "corp",
        "issuer": issuer,
        "client_id": CLIENT["client_id"],
        "client_secret": CLIENT["client_secret"],
        "redirect_uri": CALLBACK,
        "groups_claim": "groups",
        "role_mapping": ROLE_MAPPING,
        **extra,
    }


@pytest.fixture(scope="module")
def _running_idp() -> Iterator[FakeOIDCProvider]:
    with run_oidc_provider([CLIENT]) as provider:
        yield provider


@pytest.fixture
def idp(_running_idp: FakeOIDCProvider) -> FakeOIDCProvider:
    _running_idp.reset()
    return _running_idp


@pytest.fixture
async def browser() -> AsyncIterator[httpx2.AsyncClient]:
    """A real HTTP client for the provider's side of the flow (redirects not followed)."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture
async def sso(
    tmp_path: Path, idp: FakeOIDCProvider, backend_overrides: dict[str, Any]
) -> AsyncIterator[AuthClient]:
    """The auth app with the ``corp`` provider, on both backends."""
    providers = [corp_provider(idp.issuer)]
    settings = auth_settings(tmp_path, **{"auth.sso_providers": providers}, **backend_overrides)
    async with running_auth(settings) as client:
        yield client


@pytest.fixture
async def sso_embedded(tmp_path: Path, idp: FakeOIDCProvider) -> AsyncIterator[AuthClient]:
    """The same on the embedded backends, for cases whose logic does not depend on them."""
    settings = auth_settings(tmp_path, **{"auth.sso_providers": [corp_provider(idp.issuer)]})
    async with running_auth(settings) as client:
        yield client


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def start_login(auth: AuthClient, provider: str = "corp") -> str:
    """GET our login route; returns where it sends the browser."""
    response = await auth.http.get(f"/auth/sso/{provider}/login")
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def authorize(browser: httpx2.AsyncClient, authorize_url: str) -> dict[str, str]:
    """Follow the authorize URL at the provider; returns the query it redirects back with."""
    response = await browser.get(authorize_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.split("?", 1)[0] in (CALLBACK, PARTNER_CALLBACK)
    return query_of(location)


async def callback(
    auth: AuthClient, params: dict[str, str], provider: str = "corp"
) -> httpx2.Response:
    return await auth.http.get(f"/auth/sso/{provider}/callback", params=params)


async def sso_login(
    auth: AuthClient, browser: httpx2.AsyncClient, provider: str = "corp"
) -> httpx2.Response:
    """The whole browser round trip; returns the callback's response."""
    params = await authorize(browser, await start_login(auth, provider))
    return await callback(auth, params, provider)


async def sso_tokens(
    auth: AuthClient, browser: httpx2.AsyncClient, provider: str = "corp"
) -> dict[str, Any]:
    response = await sso_login(auth, browser, provider)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def claims_of(tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return claims


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def users_named(auth: AuthClient, query: str) -> list[dict[str, Any]]:
    response = await auth.http.get(
        "/auth/users", params={"q": query}, headers=await auth.admin_headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


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
        claims = claims_of(tokens)
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
        assert claims_of(refreshed.json())["roles"] == ["SUPERVISOR"]

    async def test_second_login_links_the_same_user_and_resyncs_roles(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-supervisors"]
        first = await sso_tokens(sso, browser)
        user_id = claims_of(first)["sub"]

        same = await sso_tokens(sso, browser)
        assert claims_of(same)["sub"] == user_id
        assert claims_of(same)["sid"] != claims_of(first)["sid"]

        idp.next_user["groups"] = ["cc-agents"]
        idp.next_user["email"] = "alice.new@example.com"  # the link is the subject, not email
        moved = await sso_tokens(sso, browser)
        assert claims_of(moved)["sub"] == user_id
        assert claims_of(moved)["roles"] == ["AGENT"]
        me = (await sso.http.get("/auth/me", headers=bearer(moved))).json()
        assert me["roles"] == ["AGENT"]
        assert "users:read" not in me["permissions"]

        idp.next_user["groups"] = ["cc-agents", "cc-supervisors"]
        both = await sso_tokens(sso, browser)
        assert claims_of(both)["roles"] == ["SUPERVISOR", "AGENT"]

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
        assert claims_of(refreshed.json())["roles"] == ["AGENT"]

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
            assert claims_of(tokens)["roles"] == ["VIEWER"]

            # A mapped group wins over the default role.
            idp.next_user["groups"] = ["cc-agents"]
            tokens = await sso_tokens(auth, browser, "partner")
            assert claims_of(tokens)["roles"] == ["AGENT"]
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
        user_id = claims_of(await sso_tokens(sso_embedded, browser))["sub"]
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


class TestCallbackRefusals:
    """Each of these answers 401 ``sso_failed`` and provisions nobody."""

    async def assert_refused(self, auth: AuthClient, response: httpx2.Response) -> None:
        assert response.status_code == 401, response.text
        assert error_code(response) == "sso_failed"
        assert await users_named(auth, "alice") == []

    async def test_a_state_is_single_use(
        self, sso: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.next_user["groups"] = ["cc-agents"]
        params = await authorize(browser, await start_login(sso))
        first = await callback(sso, params)
        assert first.status_code == 200, first.text
        replay = await callback(sso, params)
        assert replay.status_code == 401
        assert error_code(replay) == "sso_failed"
        assert idp.calls["token"] == 1, "a replayed state must not reach the provider"

    async def test_unknown_or_missing_state(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        params = await authorize(browser, await start_login(sso_embedded))
        forged = await callback(sso_embedded, {**params, "state": "forged-state-value"})
        await self.assert_refused(sso_embedded, forged)
        missing = await callback(sso_embedded, {"code": params["code"]})
        await self.assert_refused(sso_embedded, missing)
        assert idp.calls["token"] == 0

    async def test_a_state_from_another_provider_is_refused(
        self,
        tmp_path: Path,
        idp: FakeOIDCProvider,
        browser: httpx2.AsyncClient,
    ) -> None:
        partner = {**corp_provider(idp.issuer), "name": "partner", "redirect_uri": CALLBACK}
        providers = [corp_provider(idp.issuer), partner]
        settings = auth_settings(tmp_path, **{"auth.sso_providers": providers})
        async with running_auth(settings) as auth:
            idp.next_user["groups"] = ["cc-agents"]
            params = await authorize(browser, await start_login(auth, "partner"))
            await self.assert_refused(auth, await callback(auth, params, "corp"))

    @pytest.mark.parametrize(
        "overrides",
        [
            pytest.param({"nonce": "not-the-nonce-we-sent"}, id="nonce-mismatch"),
            pytest.param({"nonce": None}, id="nonce-missing"),
            pytest.param({"aud": "another-client"}, id="wrong-audience"),
            pytest.param({"iss": "http://127.0.0.1:9/evil"}, id="wrong-issuer"),
            pytest.param({"exp": -3600, "iat": -7200}, id="expired"),
            pytest.param({"sub": None}, id="no-subject"),
        ],
    )
    async def test_a_bad_id_token_is_refused(
        self,
        sso_embedded: AuthClient,
        idp: FakeOIDCProvider,
        browser: httpx2.AsyncClient,
        overrides: dict[str, Any],
    ) -> None:
        now = int(time.time())
        idp.id_token_overrides = {
            k: now + v if k in ("exp", "iat") and isinstance(v, int) else v
            for k, v in overrides.items()
        }
        idp.next_user["groups"] = ["cc-agents"]
        await self.assert_refused(sso_embedded, await sso_login(sso_embedded, browser))
        assert idp.calls["token"] == 1

    async def test_an_id_token_signed_with_another_key_is_refused(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        idp.sign_with_wrong_key = True
        idp.next_user["groups"] = ["cc-agents"]
        await self.assert_refused(sso_embedded, await sso_login(sso_embedded, browser))

        idp.sign_with_wrong_key = False  # the provider's real key still works afterwards
        tokens = await sso_tokens(sso_embedded, browser)
        assert claims_of(tokens)["roles"] == ["AGENT"]

    async def test_the_provider_denying_access_is_refused(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider
    ) -> None:
        state = query_of(await start_login(sso_embedded))["state"]
        denied = {
            "error": "access_denied",
            "error_description": "The user cancelled",
            "state": state,
            "iss": idp.issuer,
        }
        await self.assert_refused(sso_embedded, await callback(sso_embedded, denied))
        # An error with a code as well is still a refusal, and the state is spent.
        await self.assert_refused(
            sso_embedded, await callback(sso_embedded, {**denied, "code": "x"})
        )
        assert idp.calls["token"] == 0

    async def test_a_code_the_provider_does_not_know_is_refused(
        self, sso_embedded: AuthClient, idp: FakeOIDCProvider, browser: httpx2.AsyncClient
    ) -> None:
        params = await authorize(browser, await start_login(sso_embedded))
        await self.assert_refused(
            sso_embedded, await callback(sso_embedded, {**params, "code": "made-up"})
        )
        assert idp.calls["token"] == 1


class TestProviderConfiguration:
    @pytest.mark.parametrize(
        "entry",
        [
            {"name": "corp"},
            {**corp_provider("http://127.0.0.1:9"), "role_mapping": {"cc-admins": "OVERLORD"}},
            {**corp_provider("http://127.0.0.1:9"), "default_role": "janitor"},
            {**corp_provider("http://127.0.0.1:9"), "client_id": 42},
            {**corp_provider("http://127.0.0.1:9"), "metadata": {"issuer": "injected"}},
        ],
    )
    async def test_a_provider_that_cannot_work_stops_the_start(
        self, tmp_path: Path, entry: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **{"auth.sso_providers": [entry]})
        with pytest.raises(ConfigError, match=r"AICC_AUTH_SSO_PROVIDERS\[0\] is invalid"):
            async with running_auth(settings):
                pass
