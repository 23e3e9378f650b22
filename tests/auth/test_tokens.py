"""Access and refresh tokens: format, keys, rotation, single use, reuse detection."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from aicc.auth import models
from aicc.core.errors import ConfigError
from tests.auth.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    AuthClient,
    auth_settings,
    bearer,
    running_auth,
)
from tests.auth.support import claims_of, error_code, hs256_token


async def status_and_code(
    auth: AuthClient, method: str, path: str, **kwargs: Any
) -> tuple[int, str]:
    """The status and error code of one request."""
    response = await auth.http.request(method, path, **kwargs)
    return response.status_code, error_code(response)


class TestAccessToken:
    async def test_is_an_eddsa_jwt_with_the_documented_claims(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
        header = jwt.get_unverified_header(tokens["access_token"])
        assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt" and header["kid"]
        claims = claims_of(tokens["access_token"])
        assert {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "roles"} <= set(claims)
        assert claims["roles"] == ["SUPER_ADMIN"] and claims["aud"] == "aicc"
        assert claims["preferred_username"] == ADMIN_USERNAME
        assert claims["exp"] - claims["nbf"] == 900

    async def test_verifies_against_the_published_jwks(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        discovery = (await auth.http.get("/.well-known/openid-configuration")).json()
        assert discovery["jwks_uri"].endswith("/.well-known/jwks.json")
        jwks = (await auth.http.get("/.well-known/jwks.json")).json()
        assert all("d" not in key for key in jwks["keys"]), "no private material"
        kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
        key = jwt.PyJWKSet.from_dict(jwks)[kid]
        claims = jwt.decode(
            tokens["access_token"],
            key,
            algorithms=["EdDSA"],
            audience="aicc",
            issuer=discovery["issuer"],
        )
        assert claims["sub"]

    async def test_refresh_token_is_opaque_random_and_stored_hashed(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        refresh = tokens["refresh_token"]
        assert len(base64.urlsafe_b64decode(refresh + "==")) >= 16
        assert refresh.count(".") == 0
        async with auth.service.resources.database.connect() as conn:
            stored = [row.token_hash for row in await conn.execute(select(models.refresh_token))]
        assert refresh not in stored and all(len(h) == 64 for h in stored)

    @pytest.mark.parametrize(
        "forge",
        [
            "none",
            "hs256-with-public-key",
            "es256-not-configured",
            "foreign-key",
            "wrong-audience",
            "no-typ",
            "expired",
        ],
    )
    async def test_forged_or_wrong_tokens_are_refused(self, auth: AuthClient, forge: str) -> None:
        genuine = (await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD))["access_token"]
        claims = claims_of(genuine)
        header = jwt.get_unverified_header(genuine)
        jwks = (await auth.http.get("/.well-known/jwks.json")).json()
        if forge == "none":
            token = jwt.encode(claims, "", algorithm="none", headers={"typ": "at+jwt"})
        elif forge == "hs256-with-public-key":
            public_bytes = base64.urlsafe_b64decode(jwks["keys"][0]["x"] + "==")
            token = hs256_token(claims, public_bytes, {"kid": header["kid"], "typ": "at+jwt"})
        elif forge == "es256-not-configured":
            ec_key = ec.generate_private_key(ec.SECP256R1())
            token = jwt.encode(
                claims, ec_key, algorithm="ES256", headers={"kid": header["kid"], "typ": "at+jwt"}
            )
        else:
            key = Ed25519PrivateKey.generate()
            kid = header["kid"] if forge == "foreign-key" else "no-such-kid"
            headers = {"kid": kid, "typ": "at+jwt"}
            if forge == "wrong-audience":
                claims["aud"] = "someone-else"
            if forge == "no-typ":
                headers.pop("typ")
            if forge == "expired":
                claims["exp"] = int(time.time()) - 3600
            token = jwt.encode(claims, key, algorithm="EdDSA", headers=headers)
        status, code = await status_and_code(
            auth, "GET", "/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 401 and code in {"invalid_token", "token_expired"}

    async def test_token_only_from_the_authorization_header(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        response = await auth.http.get("/auth/me", params={"access_token": tokens["access_token"]})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_token"
        assert response.headers["www-authenticate"] == "Bearer"


class TestRefresh:
    async def test_refresh_returns_a_new_pair_and_the_old_token_dies(
        self, auth: AuthClient
    ) -> None:
        first = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        response = await auth.http.post(
            "/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert response.status_code == 200
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert claims_of(second["access_token"])["sid"] == claims_of(first["access_token"])["sid"]
        assert (await auth.http.get("/auth/me", headers=bearer(second))).status_code == 200

    async def test_reuse_revokes_the_whole_session(self, auth: AuthClient) -> None:
        first = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        second = (
            await auth.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        ).json()
        status, code = await status_and_code(
            auth, "POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert (status, code) == (401, "refresh_token_reused")
        status, code = await status_and_code(auth, "GET", "/auth/me", headers=bearer(second))
        assert (status, code) == (401, "token_revoked")
        status, code = await status_and_code(
            auth, "POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert (status, code) == (401, "session_revoked")
        other = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert (await auth.http.get("/auth/me", headers=bearer(other))).status_code == 200

    async def test_two_simultaneous_refreshes_at_most_one_wins(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        body = {"refresh_token": tokens["refresh_token"]}
        responses = await asyncio.gather(
            *(auth.http.post("/auth/refresh", json=body) for _ in range(5))
        )
        assert sum(r.status_code == 200 for r in responses) <= 1
        assert all(r.status_code in (200, 401) for r in responses)

    async def test_unknown_refresh_token(self, auth: AuthClient) -> None:
        status, code = await status_and_code(
            auth, "POST", "/auth/refresh", json={"refresh_token": "not-a-real-token"}
        )
        assert (status, code) == (401, "invalid_refresh_token")


class TestKeyRotation:
    async def test_old_keys_stay_published_and_valid(self, auth: AuthClient) -> None:
        before = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
        new_kid = await auth.service.rotate_signing_key()
        after = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid != old_kid
        kids = {k["kid"] for k in (await auth.http.get("/.well-known/jwks.json")).json()["keys"]}
        assert {old_kid, new_kid} <= kids
        for tokens in (before, after):
            assert (await auth.http.get("/auth/me", headers=bearer(tokens))).status_code == 200


class TestSharedSecretMode:
    async def test_hs256_with_jwt_secret(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, jwt_secret="s" * 48)
        async with running_auth(settings) as auth:
            tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
            assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"
            claims = jwt.decode(
                tokens["access_token"], b"s" * 48, algorithms=["HS256"], audience="aicc"
            )
            assert claims["roles"] == ["SUPER_ADMIN"]
            assert (await auth.http.get("/auth/me", headers=bearer(tokens))).status_code == 200
            assert (await auth.http.get("/.well-known/jwks.json")).json() == {"keys": []}

    async def test_short_secret_is_refused(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, jwt_secret="too-short")
        with pytest.raises(ConfigError, match="32 bytes"):
            async with running_auth(settings):
                pass
