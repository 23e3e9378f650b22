"""The client address and scheme behind trusted proxies (``AICC_TRUSTED_PROXIES``): the
parsing rules, the HTTP and WebSocket scopes every service sees, the access log, and a real
uvicorn server that no longer rewrites the address itself."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import APIRouter, FastAPI, Request, WebSocket
from starlette.types import Message, Scope

from aicc.core.app import build_app
from aicc.core.config import load_settings
from aicc.core.logging import JsonFormatter
from aicc.core.proxies import TrustedProxies
from aicc.monitoring import MonitoringService
from tests.backends import free_port
from tests.processes import Running, aicc_env

BALANCER = ("10.0.1.17", 41000)
STRANGER = ("198.51.100.20", 52000)
ALB_SUBNETS = ["10.0.1.0/24", "10.0.2.0/24", "2001:db8:a1b::/48"]


class TestForwardedFor:
    proxies = TrustedProxies(ALB_SUBNETS)

    @pytest.mark.parametrize(
        ("header", "client"),
        [
            ("203.0.113.9", "203.0.113.9"),
            ("203.0.113.9, 10.0.2.4", "203.0.113.9"),
            ("6.6.6.6, 203.0.113.9", "203.0.113.9"),
            ("6.6.6.6,203.0.113.9 ,10.0.1.5, 10.0.2.9", "203.0.113.9"),
            ("10.0.1.5, 10.0.2.9", "10.0.1.5"),
            ("2001:db8:ffff::1, 2001:db8:a1b::5", "2001:db8:ffff::1"),
            ("2001:0db8:ffff:0000::0001", "2001:db8:ffff::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("203.0.113.9:51234", "203.0.113.9"),
            ("[2001:db8:ffff::1]:443", "2001:db8:ffff::1"),
            ("[2001:db8:ffff::1]", "2001:db8:ffff::1"),
            ("not-an-address, 203.0.113.9", "203.0.113.9"),
        ],
    )
    def test_first_untrusted_hop_from_the_right(self, header: str, client: str) -> None:
        assert self.proxies.client_address(header) == client

    @pytest.mark.parametrize(
        "header",
        [
            "",
            " , ",
            "unknown",
            "203.0.113.9, garbage",
            "203.0.113.9, 10.0.1.5, _hidden",
            "203.0.113.999",
            "203.0.113.9:port",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "1.2.3.4\x00",
            "ü" * 5000,
        ],
    )
    def test_malformed_values_name_no_client(self, header: str) -> None:
        assert self.proxies.client_address(header) is None

    def test_no_networks_is_false(self) -> None:
        assert not TrustedProxies([])
        assert TrustedProxies(["10.0.0.0/8"])


def _probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        host = request.client.host if request.client else None
        return {"client": host, "scheme": request.url.scheme}

    @router.websocket("/ws")
    async def websocket_probe(websocket: WebSocket) -> None:
        await websocket.accept()
        host = websocket.client.host if websocket.client else None
        await websocket.send_json({"client": host, "scheme": websocket.url.scheme})
        await websocket.close()

    return router


Peer = tuple[str, int]
ClientFor = Callable[[Peer], httpx2.AsyncClient]


@asynccontextmanager
async def running_probe(tmp_path: Path, proxies: list[str]) -> AsyncIterator[FastAPI]:
    settings = load_settings(
        {"data_dir": str(tmp_path / "var"), "server.trusted_proxies": proxies}, env_file=None
    )
    app = build_app(MonitoringService(settings=settings), [_probe_router()])
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI, peer: Peer) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=peer)
    return httpx2.AsyncClient(transport=transport, base_url="http://aicc.internal")


async def whoami(app: FastAPI, peer: Peer, headers: dict[str, str]) -> dict[str, Any]:
    async with client_for(app, peer) as http:
        response = await http.get("/whoami", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


SPOOF = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}


class TestHttpScope:
    async def test_untrusted_peer_cannot_choose_its_address_or_scheme(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await whoami(app, STRANGER, SPOOF)
        assert seen == {"client": STRANGER[0], "scheme": "http"}

    async def test_trusted_balancer_names_the_client_and_scheme(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await whoami(
                app,
                BALANCER,
                {"X-Forwarded-For": "6.6.6.6, 203.0.113.66", "X-Forwarded-Proto": "https"},
            )
        assert seen == {"client": "203.0.113.66", "scheme": "https"}

    async def test_repeated_headers_are_read_as_one_list(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app, client_for(app, BALANCER) as http:
            headers = [("X-Forwarded-For", "203.0.113.66"), ("X-Forwarded-For", "10.0.2.8")]
            response = await http.get("/whoami", headers=headers)
        assert response.json()["client"] == "203.0.113.66"

    async def test_without_trusted_proxies_headers_are_ignored_even_from_loopback(
        self, tmp_path: Path
    ) -> None:
        async with running_probe(tmp_path, []) as app:
            seen = await whoami(app, ("127.0.0.1", 5000), SPOOF)
        assert seen == {"client": "127.0.0.1", "scheme": "http"}

    @pytest.mark.parametrize(
        "headers",
        [
            {"X-Forwarded-For": "garbage"},
            {"X-Forwarded-For": ""},
            {"X-Forwarded-For": "203.0.113.66, 10.0.1.9, %%%"},
            {"X-Forwarded-Proto": "gopher"},
            {"X-Forwarded-For": "1.2.3.4" * 2000, "X-Forwarded-Proto": ","},
        ],
    )
    async def test_malformed_values_keep_the_connection(
        self, tmp_path: Path, headers: dict[str, str]
    ) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await whoami(app, BALANCER, headers)
        assert seen == {"client": BALANCER[0], "scheme": "http"}

    async def test_non_ascii_header_bytes_keep_the_connection(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app, client_for(app, BALANCER) as http:
            headers = [(b"X-Forwarded-For", b"\xff\xfe203.0.113.66")]
            response = await http.get("/whoami", headers=headers)
        assert response.status_code == 200
        assert response.json()["client"] == BALANCER[0]

    async def test_proto_from_the_nearest_proxy(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await whoami(app, BALANCER, {"X-Forwarded-Proto": "http, HTTPS"})
        assert seen == {"client": BALANCER[0], "scheme": "https"}

    async def test_access_log_carries_the_resolved_client(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            with caplog.at_level(logging.INFO, logger="aicc.access"):
                await whoami(app, BALANCER, {"X-Forwarded-For": "203.0.113.66"})
                await whoami(app, STRANGER, {"X-Forwarded-For": "203.0.113.66"})
        lines = [
            json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "aicc.access"
        ]
        assert [line["metadata"]["client"] for line in lines] == ["203.0.113.66", STRANGER[0]]


async def websocket_probe(app: FastAPI, peer: Peer, headers: dict[str, str]) -> dict[str, Any]:
    """Connects to ``/ws`` as an ASGI server would and returns what the endpoint saw."""
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"aicc.internal"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": peer,
        "server": ("10.0.9.9", 8001),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "websocket.accept", sent
    text = next(m["text"] for m in sent if m["type"] == "websocket.send")
    body: dict[str, Any] = json.loads(text)
    return body


class TestWebSocketScope:
    async def test_trusted_balancer_names_the_client_and_secure_scheme(
        self, tmp_path: Path
    ) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await websocket_probe(app, BALANCER, SPOOF)
        assert seen == {"client": "203.0.113.66", "scheme": "wss"}

    async def test_untrusted_peer_is_ignored(self, tmp_path: Path) -> None:
        async with running_probe(tmp_path, ALB_SUBNETS) as app:
            seen = await websocket_probe(app, STRANGER, SPOOF)
        assert seen == {"client": STRANGER[0], "scheme": "ws"}


class TestRealServer:
    """``aicc serve`` behind uvicorn: uvicorn's own proxy-header handling (which trusts
    127.0.0.1 by default) is off, so only ``AICC_TRUSTED_PROXIES`` decides."""

    @pytest.mark.parametrize(
        ("trusted", "expected"), [("", "127.0.0.1"), ("127.0.0.0/8", "203.0.113.66")]
    )
    def test_forwarded_for_from_loopback(self, tmp_path: Path, trusted: str, expected: str) -> None:
        port = free_port()
        env = aicc_env(tmp_path, AICC_TRUSTED_PROXIES=trusted)
        running = Running(["serve", "monitoring", "--port", str(port)], env, tmp_path)
        try:
            response = httpx2.get(
                f"http://127.0.0.1:{port}/health",
                headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"},
                timeout=10,
            )
            assert response.status_code == 200
        finally:
            code, _, stderr = running.stop(signal.SIGTERM)
        assert code == 0, stderr
        logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        health = [
            line["metadata"]
            for line in logged
            if line["message"] == "request" and line["metadata"]["route"] == "/health"
        ]
        assert [metadata["client"] for metadata in health] == [expected]
