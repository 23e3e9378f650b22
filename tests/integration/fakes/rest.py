"""A generic JSON API: ``/api/...`` echoes each request once it passes the credentials check
the test chose (``expect``), and ``/oauth/token`` issues client-credentials tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.integration.fakes.common import FakeProvider

Expect = Literal["none", "api_key", "api_key_query", "basic", "bearer", "oauth2", "hmac"]


class FakeRest(FakeProvider):
    def __init__(self) -> None:
        super().__init__("REST stand-in")
        self.expect: Expect = "none"
        self.api_key = "key-" + secrets.token_hex(8)
        self.username = "aicc"
        self.password = "pa:ss:word"
        self.bearer = "static-" + secrets.token_hex(8)
        self.hmac_secret = "hmac-" + secrets.token_hex(8)
        self.client_id = "client-" + secrets.token_hex(4)
        self.client_secret = "secret-" + secrets.token_hex(8)
        self.issued: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.app.post("/oauth/token")(self._token)
        self.app.api_route("/api{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])(
            self._echo
        )

    def revoke_tokens(self) -> None:
        self.issued.clear()

    async def _token(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        self.token_requests.append(form)
        client = _basic(request.headers.get("authorization", "")) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if client != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = "at-" + secrets.token_urlsafe(16)
        self.issued.add(token)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    async def _echo(self, rest: str, request: Request) -> Response:
        body = await request.body()
        if not self._authorised(request, body):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if rest.endswith("/text"):
            return PlainTextResponse("안녕하세요")
        echo: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "query": list(request.query_params.multi_items()),
            "json": orjson.loads(body) if body else None,
        }
        return JSONResponse(
            echo,
            status_code=201 if request.method == "POST" else 200,
            headers={"ETag": '"v1"', "Location": "/api/items/1", "X-Internal": "not for callers"},
        )

    def _authorised(self, request: Request, body: bytes) -> bool:
        headers = request.headers
        if self.expect == "api_key":
            return headers.get("x-api-key") == self.api_key
        if self.expect == "api_key_query":
            return request.query_params.get("api_key") == self.api_key
        if self.expect == "basic":
            return _basic(headers.get("authorization", "")) == (self.username, self.password)
        if self.expect == "bearer":
            return headers.get("authorization") == f"Bearer {self.bearer}"
        if self.expect == "oauth2":
            return headers.get("authorization", "").removeprefix("Bearer ") in self.issued
        if self.expect == "hmac":
            stamp = headers.get("x-timestamp", "")
            mac = hmac.new(self.hmac_secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            return hmac.compare_digest(headers.get("x-signature", ""), "sha256=" + mac.hexdigest())
        return True


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password
