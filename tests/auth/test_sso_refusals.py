"""Single sign-on end to end (see ``tests/auth/test_sso_login.py``): the callbacks the auth
app refuses, and provider entries that stop it from starting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from aicc.core.errors import ConfigError
from tests.auth.conftest import AuthClient, auth_settings, running_auth
from tests.auth.oidc_provider import FakeOIDCProvider
from tests.auth.sso_flow import (
    CALLBACK,
    authorize,
    callback,
    corp_provider,
    query_of,
    sso_login,
    sso_tokens,
    start_login,
    users_named,
)
from tests.auth.support import access_claims, error_code


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
        assert access_claims(tokens)["roles"] == ["AGENT"]

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
