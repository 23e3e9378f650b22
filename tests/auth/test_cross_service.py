"""The token check every service uses, across real HTTP: the auth app as a live server and
a monitoring app set up like a separate service (see ``tests/auth/deployment.py``), in both
deployments, ``embedded`` and ``postgres-redis``."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.auth.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, bearer
from tests.auth.deployment import (
    JWKS_INTERVAL,
    JWKS_ROUTE,
    REVOCATION_DEADLINE,
    Deployment,
    assert_refused,
    deploy,
)
from tests.auth.support import (
    alg_none_token,
    claims_of,
    eddsa_token,
    error_code,
    hs256_token,
    kid_of,
)


@pytest.fixture
async def deployment(
    tmp_path: Path, backend_overrides: dict[str, Any]
) -> AsyncIterator[Deployment]:
    """Both deployments (``backend_overrides`` is parametrized over them)."""
    mode = "postgres-redis" if backend_overrides else "embedded"
    async with deploy(mode, tmp_path, backend_overrides) as running:
        yield running


@pytest.fixture
async def deployment_rate_limited_jwks(
    tmp_path: Path, backend_overrides: dict[str, Any]
) -> AsyncIterator[Deployment]:
    """Both deployments, with a monitoring app that may refetch the JWKS once in 10 minutes:
    only the rotation announced through the cache can make it refetch sooner."""
    mode = "postgres-redis" if backend_overrides else "embedded"
    async with deploy(mode, tmp_path, backend_overrides, jwks_interval=600.0) as running:
        yield running


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy("embedded", tmp_path, {}) as running:
        yield running


class TestPermissionCheck:
    async def test_no_token(self, embedded: Deployment) -> None:
        assert_refused(await embedded.monitoring.get("/protected"), "missing_token")
        basic = await embedded.monitoring.get(
            "/protected", headers={"Authorization": "Basic dXNlcjpwYXNz"}
        )
        assert_refused(basic, "missing_token")

    async def test_garbage_token(self, embedded: Deployment) -> None:
        for garbage in ("garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"):
            assert_refused(await embedded.protected(garbage))

    async def test_an_agent_token_grants_exactly_the_agent_permissions(
        self, deployment: Deployment
    ) -> None:
        tokens = await deployment.agent_tokens()
        allowed = await deployment.protected(tokens["access_token"])
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {
            "user_id": claims_of(tokens["access_token"])["sub"],
            "roles": ["AGENT"],
        }
        denied = await deployment.protected(tokens["access_token"], "/admin-only")
        assert denied.status_code == 403
        assert error_code(denied) == "permission_denied"
        admin = await deployment.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert (await deployment.protected(admin["access_token"], "/admin-only")).is_success


class TestForgedTokens:
    async def test_alg_none_and_hs256_with_the_public_key_are_refused(
        self, embedded: Deployment
    ) -> None:
        token = (await embedded.agent_tokens())["access_token"]
        assert (await embedded.protected(token)).status_code == 200
        claims, kid = claims_of(token), kid_of(token)
        jwks = (await embedded.auth.get(JWKS_ROUTE)).json()
        jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
        public = jwt.PyJWK(jwk).key
        secrets = [
            base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)),
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            json.dumps(jwk).encode(),
        ]
        header = {"typ": "at+jwt", "kid": kid}
        forged = [alg_none_token(claims, kid), *(hs256_token(claims, s, header) for s in secrets)]
        for token in forged:
            assert_refused(await embedded.protected(token))

    async def test_wrong_audience_or_issuer_is_refused_even_with_a_real_signature(
        self, embedded: Deployment
    ) -> None:
        token = (await embedded.agent_tokens())["access_token"]
        claims = claims_of(token)
        assert (await embedded.protected(token)).status_code == 200
        signer = embedded.auth_service.signer
        for changed in ({"aud": "another-audience"}, {"iss": "http://127.0.0.1:9/other"}):
            other = signer.sign({**claims, **changed, "jti": uuid.uuid4().hex})
            assert kid_of(other) == kid_of(token)
            assert_refused(await embedded.protected(other))
        # The same claims under a key the auth service never issued, with its kid or another.
        assert_refused(await embedded.protected(eddsa_token(claims, kid_of(token))))
        for changed in ({"aud": "another-audience"}, {"iss": "http://127.0.0.1:9/other"}):
            assert_refused(await embedded.protected(eddsa_token({**claims, **changed}, "nope")))

    async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
        self, embedded: Deployment
    ) -> None:
        token = (await embedded.agent_tokens())["access_token"]
        claims = claims_of(token)
        assert await embedded.jwks_fetches() == 0
        assert (await embedded.protected(token)).status_code == 200
        assert await embedded.jwks_fetches() == 1
        assert (await embedded.protected(token)).status_code == 200
        assert await embedded.jwks_fetches() == 1, "a known kid needs no fetch"

        async def burst() -> None:
            for _ in range(15):
                kid = uuid.uuid4().hex[:16]
                assert_refused(await embedded.protected(eddsa_token(claims, kid)))

        await burst()
        assert await embedded.jwks_fetches() <= 2
        before = await embedded.jwks_fetches()
        await asyncio.sleep(JWKS_INTERVAL + 0.05)
        await burst()
        assert await embedded.jwks_fetches() == before + 1
        assert (await embedded.protected(token)).status_code == 200


class TestRevocation:
    async def test_logout_is_refused_by_the_other_service(self, deployment: Deployment) -> None:
        tokens = await deployment.agent_tokens()
        access = tokens["access_token"]
        assert (await deployment.protected(access)).status_code == 200
        other = await deployment.agent_tokens()  # another session, unaffected

        logout = await deployment.auth.post("/auth/logout", headers=bearer(tokens))
        assert logout.status_code == 204, logout.text
        assert_refused(
            await deployment.auth.get("/auth/me", headers=bearer(tokens)), "token_revoked"
        )

        deadline = time.monotonic() + REVOCATION_DEADLINE
        while True:
            response = await deployment.protected(access)
            if response.status_code != 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert_refused(response, "token_revoked")
        assert (await deployment.protected(other["access_token"])).status_code == 200


class TestKeyRotation:
    async def test_new_kid_is_accepted_and_old_tokens_still_work(
        self, deployment_rate_limited_jwks: Deployment
    ) -> None:
        deployment = deployment_rate_limited_jwks
        old = await deployment.agent_tokens()
        old_kid = kid_of(old["access_token"])
        assert (await deployment.protected(old["access_token"])).status_code == 200

        new_kid = await deployment.auth_service.rotate_signing_key()
        assert new_kid != old_kid
        published = [k["kid"] for k in (await deployment.auth.get(JWKS_ROUTE)).json()["keys"]]
        assert sorted(published) == sorted([old_kid, new_kid])

        new = await deployment.agent_tokens()
        assert kid_of(new["access_token"]) == new_kid
        me = await deployment.auth.get("/auth/me", headers=bearer(new))
        assert me.status_code == 200, me.text

        # The rotation is announced through the cache, so the monitoring app refetches the
        # JWKS at once although it fetched it moments ago and its interval is 10 minutes.
        deadline = time.monotonic() + 3
        while True:
            accepted = await deployment.protected(new["access_token"])
            if accepted.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert accepted.status_code == 200, accepted.text

        for client_check in (
            deployment.protected(old["access_token"]),
            deployment.auth.get("/auth/me", headers=bearer(old)),
        ):
            response = await client_check
            assert response.status_code == 200, response.text
