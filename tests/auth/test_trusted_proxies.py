"""The auth service behind a load balancer (``AICC_TRUSTED_PROXIES``), through the HTTP API:
sessions, audit rows and the per-address failure throttle use the client named by a trusted
balancer's ``X-Forwarded-For``, and a client talking to the service directly cannot choose
its address with that header."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2

from aicc.auth.app import create_app
from aicc.auth.service import AuthService
from tests.auth.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AuthClient, auth_settings, bearer
from tests.auth.support import assert_error, login_response

PASSWORD = "Balanced-Harbour-Lights-9"
WRONG = "not-the-password-1"
ALB_SUBNETS = ["10.0.1.0/24", "10.0.2.0/24"]
BALANCER = ("10.0.1.17", 41000)
INNER_BALANCER = "10.0.2.30"
STRANGER = ("198.51.100.20", 52000)

Peer = tuple[str, int]
Connect = Callable[[Peer], AuthClient]


@asynccontextmanager
async def behind_balancer(
    tmp_path: Path, backend: dict[str, Any], **overrides: Any
) -> AsyncIterator[Connect]:
    """The auth app trusting ``ALB_SUBNETS``; ``connect(peer)`` gives a client whose
    connections come from ``peer``."""
    settings = auth_settings(
        tmp_path, **backend, **{"server.trusted_proxies": ALB_SUBNETS}, **overrides
    )
    app = create_app(settings)
    service: AuthService = app.state.aicc_service
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))

        def connect(peer: Peer) -> AuthClient:
            transport = httpx2.ASGITransport(app=app, client=peer)
            http = httpx2.AsyncClient(transport=transport, base_url="http://auth.internal")
            stack.push_async_callback(http.aclose)
            return AuthClient(http, service)

        yield connect


def forwarded(*hops: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(hops)}


async def sessions_of(client: AuthClient, tokens: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.http.get("/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def audited_addresses(
    client: AuthClient, admin: dict[str, str], event: str, **params: str
) -> list[str]:
    """The addresses of the audit rows of ``event`` (and ``params``), newest first."""
    response = await client.http.get(
        "/auth/audit", params={"event": event, "limit": 200, **params}, headers=admin
    )
    assert response.status_code == 200, response.text
    return [item["ip_address"] for item in response.json()["items"]]


class TestDirectClient:
    async def test_spoofed_forwarded_for_changes_nothing(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        async with behind_balancer(tmp_path, backend_overrides) as connect:
            direct = connect(STRANGER)
            user_id = await direct.create_user("direct-agent", PASSWORD, ["agent"])
            spoof = forwarded("203.0.113.5")
            failed = await login_response(direct, "direct-agent", WRONG, headers=spoof)
            assert failed.status_code == 401
            signed_in = await login_response(direct, "direct-agent", PASSWORD, headers=spoof)
            assert signed_in.status_code == 200, signed_in.text
            tokens = signed_in.json()

            sessions = await sessions_of(direct, tokens)
            admin = await direct.admin_headers()
            audited = await audited_addresses(direct, admin, "login", target_id=user_id)

        assert [s["ip_address"] for s in sessions] == [STRANGER[0]]
        assert audited == [STRANGER[0], STRANGER[0]]

    async def test_failure_throttle_counts_the_real_peer(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        limits = {"auth.ip_failure_limit": 3, "auth.lockout_threshold": 50}
        async with behind_balancer(tmp_path, backend_overrides, **limits) as connect:
            direct = connect(STRANGER)
            for i in range(3):
                spoof = forwarded(f"203.0.113.{10 + i}")
                failed = await login_response(direct, f"guess-{i}", WRONG, headers=spoof)
                assert failed.status_code == 401
            flooded = await login_response(
                direct, ADMIN_USERNAME, ADMIN_PASSWORD, headers=forwarded("203.0.113.99")
            )
        assert_error(flooded, 429, "too_many_attempts")
        assert int(flooded.headers["retry-after"]) >= 1


class TestThroughTheBalancer:
    async def test_failures_are_counted_per_forwarded_client(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        limits = {"auth.ip_failure_limit": 3, "auth.lockout_threshold": 50}
        async with behind_balancer(tmp_path, backend_overrides, **limits) as connect:
            alb = connect(BALANCER)
            for i in range(8):
                client = forwarded(f"192.0.2.{i + 1}")
                for _ in range(2):
                    failed = await login_response(alb, f"typo-{i}", WRONG, headers=client)
                    assert failed.status_code == 401, failed.text

            attacker = forwarded("6.6.6.6", "203.0.113.7")
            for _ in range(3):
                failed = await login_response(alb, "guess", WRONG, headers=attacker)
                assert failed.status_code == 401
            flooded = await login_response(alb, ADMIN_USERNAME, ADMIN_PASSWORD, headers=attacker)
            via_inner = await login_response(
                alb, "guess", WRONG, headers=forwarded("203.0.113.7", INNER_BALANCER)
            )
            neighbour = forwarded("203.0.113.8")
            neighbour_failed = await login_response(alb, "guess", WRONG, headers=neighbour)
            neighbour_ok = await login_response(
                alb, ADMIN_USERNAME, ADMIN_PASSWORD, headers=neighbour
            )

        assert_error(flooded, 429, "too_many_attempts")
        assert 1 <= int(flooded.headers["retry-after"]) <= 300
        assert_error(via_inner, 429, "too_many_attempts")
        assert_error(neighbour_failed, 401, "invalid_credentials")
        assert neighbour_ok.status_code == 200, neighbour_ok.text

    async def test_sessions_and_audit_show_the_forwarded_client(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        async with behind_balancer(tmp_path, backend_overrides) as connect:
            alb = connect(BALANCER)
            user_id = await alb.create_user("branch-agent", PASSWORD, ["agent"])
            failed = await login_response(
                alb, "branch-agent", WRONG, headers=forwarded("203.0.113.40")
            )
            assert failed.status_code == 401
            chain = forwarded("10.9.9.9", "203.0.113.41", INNER_BALANCER)
            signed_in = await login_response(alb, "branch-agent", PASSWORD, headers=chain)
            assert signed_in.status_code == 200, signed_in.text
            tokens = signed_in.json()

            sessions = await sessions_of(alb, tokens)
            refresh = {"refresh_token": tokens["refresh_token"]}
            assert (await alb.http.post("/auth/refresh", json=refresh)).status_code == 200
            reused = await alb.http.post(
                "/auth/refresh", json=refresh, headers=forwarded("203.0.113.42")
            )
            assert_error(reused, 401, "refresh_token_reused")
            admin = await alb.admin_headers()
            logins = await audited_addresses(alb, admin, "login", target_id=user_id)
            reuses = await audited_addresses(alb, admin, "refresh_token_reused")

        assert [s["ip_address"] for s in sessions] == ["203.0.113.41"]
        assert logins == ["203.0.113.41", "203.0.113.40"]
        assert reuses == ["203.0.113.42"]

    async def test_balancer_without_forwarded_for_is_its_own_address(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        async with behind_balancer(tmp_path, backend_overrides) as connect:
            alb = connect(BALANCER)
            tokens = await alb.login(ADMIN_USERNAME, ADMIN_PASSWORD)
            sessions = await sessions_of(alb, tokens)
        assert [s["ip_address"] for s in sessions] == [BALANCER[0]]
