"""Two services across real HTTP, for ``tests/auth/test_cross_service.py``.

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
import contextlib
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx2
import uvicorn
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
from tests.auth.support import error_code, registration_body

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
            json=registration_body(username, AGENT_PASSWORD, ["agent"]),
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


# --- checks -------------------------------------------------------------------------------


def assert_refused(response: httpx2.Response, code: str = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert error_code(response) == code
    assert response.headers["www-authenticate"].startswith("Bearer")
