"""The token check every service uses, across real HTTP.

The auth app runs as a real uvicorn server on a loopback port inside the test's event loop;
a monitoring app (its facade plus a test router guarded by ``require_permission``) is set
up like a separate service: its settings point ``auth.url`` at the live auth server, from
which it fetches the JWKS over HTTP.

Two deployments: ``embedded`` (both apps share one ``Resources``, so the in-process cache
carries revocations) and ``postgres-redis`` (same PostgreSQL and Redis, separate
``Resources``, so revocations cross through Redis publish/subscribe).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx2
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends

from aicc.auth.app import create_app as create_auth_app
from aicc.auth.service import AuthService
from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.resources import Resources
from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.monitoring.service import MonitoringService
from tests.asgi import serve_app
from tests.auth.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, auth_settings, bearer

JWKS_ROUTE = "/.well-known/jwks.json"
AGENT_PASSWORD = "agent-Passphrase-for-tests-31"
JWKS_INTERVAL = 1.0
"""The monitoring app's ``auth.jwks_min_refresh_interval`` in these tests (seconds)."""
REVOCATION_DEADLINE = 5.0


# --- the services -------------------------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the test runner


def _monitoring_router() -> APIRouter:
    router = APIRouter()

    @router.get("/protected")
    async def protected(
        principal: Annotated[Principal, Depends(require_permission("metrics:read"))],
    ) -> dict[str, Any]:
        return {"user_id": principal.user_id, "roles": list(principal.roles)}

    @router.get("/admin-only")
    async def admin_only(
        principal: Annotated[Principal, Depends(require_permission("users:manage"))],
    ) -> dict[str, Any]:
        return {"user_id": principal.user_id}

    return router


@dataclass
class Deployment:
    auth_url: str
    auth_service: AuthService
    auth: httpx2.AsyncClient
    """Real HTTP to the live auth server."""
    monitoring: httpx2.AsyncClient
    """ASGI client of the monitoring app."""

    async def login(self, username: str, password: str) -> dict[str, Any]:
        response = await self.auth.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def agent_tokens(self) -> dict[str, Any]:
        """A new AGENT user, registered by the bootstrap admin, signed in."""
        admin = bearer(await self.login(ADMIN_USERNAME, ADMIN_PASSWORD))
        username = f"agent-{uuid.uuid4().hex[:8]}"
        created = await self.auth.post(
            "/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": AGENT_PASSWORD,
                "roles": ["agent"],
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        return await self.login(username, AGENT_PASSWORD)

    async def jwks_fetches(self) -> float:
        """GETs of the JWKS the auth server has answered, from its Prometheus counter."""
        text = (await self.auth.get("/metrics")).text
        total = 0.0
        for labels, value in re.findall(r"^aicc_api_requests_total\{([^}]*)\} (\S+)$", text, re.M):
            if f'route="{JWKS_ROUTE}"' in labels and 'method="GET"' in labels:
                total += float(value)
        return total

    async def protected(self, token: str, path: str = "/protected") -> httpx2.Response:
        return await self.monitoring.get(path, headers={"Authorization": f"Bearer {token}"})


@contextlib.asynccontextmanager
async def live_auth(
    settings: Settings, sock: socket.socket, resources: Resources | None
) -> AsyncIterator[AuthService]:
    """The auth app served by uvicorn on ``sock`` in this event loop."""
    app = create_auth_app(settings, resources=resources)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    config.timeout_graceful_shutdown = 2
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="live-auth")
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the auth server stopped during start-up")
            assert time.monotonic() < deadline, "the auth server did not start"
            await asyncio.sleep(0.01)
        service: AuthService = app.state.aicc_service
        yield service
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@contextlib.asynccontextmanager
async def deploy(
    mode: str, tmp_path: Path, backend: dict[str, Any], *, jwks_interval: float = JWKS_INTERVAL
) -> AsyncIterator[Deployment]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        auth_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        common = {"auth.url": auth_url, **backend}
        auth_cfg = auth_settings(tmp_path, **common)
        monitoring_cfg = auth_settings(
            tmp_path,
            **{
                **common,
                "auth.jwks_min_refresh_interval": jwks_interval,
                # Only the shared cache (embedded) or Redis pub/sub can tell it in time.
                "auth.revocation_recheck_interval": 600.0,
                # A separate service on PostgreSQL checks the schema, never migrates it.
                "server.auto_migrate": False if backend else None,
            },
        )
        shared = Resources.open(auth_cfg) if mode == "embedded" else None
        try:
            async with (
                live_auth(auth_cfg, sock, shared) as auth_service,
                httpx2.AsyncClient(base_url=auth_url, timeout=10) as auth_http,
            ):
                monitoring_app = build_app(
                    MonitoringService(settings=monitoring_cfg, resources=shared),
                    [_monitoring_router()],
                )
                async with serve_app(monitoring_app) as monitoring_http:
                    yield Deployment(auth_url, auth_service, auth_http, monitoring_http)
        finally:
            if shared is not None:
                await shared.close()


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


# --- forged tokens ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join(_b64(p) for p in parts)


def alg_none_token(claims: dict[str, Any], kid: str) -> str:
    return _unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, claims) + "."


def hs256_token(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    signing_input = _unsigned({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def eddsa_token(claims: dict[str, Any], kid: str) -> str:
    """Signed with a fresh Ed25519 key the auth service never saw."""
    key = Ed25519PrivateKey.generate()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def assert_refused(response: httpx2.Response, code: str = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert error_code(response) == code
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- the tests ----------------------------------------------------------------------------


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
        forged = [alg_none_token(claims, kid), *(hs256_token(claims, kid, s) for s in secrets)]
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
