"""A plain JSON API for the delivery tests, reached through the ``rest`` connector: it
deduplicates orders on ``Idempotency-Key`` as payment providers do, issues OAuth2 client
credentials tokens, and tracks how many calls are in flight at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider

CLIENT_ID = "shop-client"
CLIENT_SECRET = "shop-client-secret-value"


class ShopFake(FakeProvider):
    def __init__(self, *, delay: float = 0.0, require_token: bool = False) -> None:
        super().__init__("shop")
        self.delay = delay
        self.require_token = require_token
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_posts = 0
        self.tokens: list[str] = []
        self.refuse_grant = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[float] = []
        app = self.app

        @app.post("/oauth/token")
        async def token(request: Request) -> JSONResponse:
            form = await request.form()
            auth = request.headers.get("authorization", "")
            if self.refuse_grant:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if form.get("grant_type") != "client_credentials" or not auth.startswith("Basic "):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            value = f"tok-{len(self.tokens) + 1}"
            self.tokens.append(value)
            await asyncio.sleep(0.05)
            return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": 3600})

        @app.get("/customers/{customer_id}")
        async def customer(customer_id: str, request: Request) -> JSONResponse:
            refused = self._refuse(request)
            if refused is not None:
                return refused
            await self._work()
            return JSONResponse({"id": customer_id, "name": "홍길동", "card_number": "4111"})

        @app.post("/orders")
        async def order(request: Request) -> JSONResponse:
            self.order_posts += 1
            await self._work()
            key = request.headers.get("idempotency-key", "")
            if key in self.orders:
                return JSONResponse(self.orders[key], status_code=200)
            placed = {"order_id": f"o-{len(self.orders) + 1}", "key": key, **(await request.json())}
            self.orders[key] = placed
            return JSONResponse(placed, status_code=201)

    def _refuse(self, request: Request) -> JSONResponse | None:
        if not self.require_token:
            return None
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return None

    async def _work(self) -> None:
        self.started.append(time.time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
