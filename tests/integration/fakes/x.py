"""A stand-in for X API v2: the OAuth 2.0 token endpoint with refresh-token rotation, the
one-to-one DM endpoint, ``/2/users/me``, and the signatures of X's webhooks.

Refresh tokens are single-use as on X: using one issues a new pair and spends it; a spent
token is refused with X's ``400 invalid_request`` ("Value passed for the token was
invalid.") and, as X does with a replayed token, revokes the whole token family.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider, Fault

ME = "1500000000000000001"
CLIENT_ID = "x-client-id"
ACCESS_TOKEN = "x-access-0"
REFRESH_TOKEN = "x-refresh-0"


class FakeX(FakeProvider):
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str | None = None,
        access_token: str = ACCESS_TOKEN,
        refresh_token: str = REFRESH_TOKEN,
        users: tuple[str, ...] = ("2244994945",),
    ) -> None:
        super().__init__("fake x api")
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_tokens = {access_token}
        self.refresh_tokens = {refresh_token}
        self.spent: set[str] = set()
        self.refreshes: list[str] = []
        """The refresh token of each token request, in order."""
        self.users = set(users)
        self.dms: list[dict[str, Any]] = []
        self._pairs = itertools.count(1)
        self._events = itertools.count(1)
        self.app.add_api_route("/2/oauth2/token", self._token, methods=["POST"])
        self.app.add_api_route(
            "/2/dm_conversations/with/{participant}/messages", self._dm, methods=["POST"]
        )
        self.app.add_api_route("/2/users/me", self._me, methods=["GET"])

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now refused (401)."""
        self.access_tokens.clear()

    @property
    def current_refresh_token(self) -> str:
        (token,) = self.refresh_tokens
        return token

    @staticmethod
    def rate_limited(reset_in: int = 120, *, limit: int = 200) -> Fault:
        """The next DM is refused with 429 and X's rate-limit headers."""
        reset = int(time.time()) + reset_in
        return Fault(
            status=429,
            body={
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            headers={
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            },
            path="/2/dm_conversations",
        )

    async def _token(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            if request.headers.get("authorization") != f"Basic {expected.decode()}":
                return JSONResponse(
                    {
                        "error": "unauthorized_client",
                        "error_description": "Missing valid authorization header",
                    },
                    status_code=401,
                )
        elif form.get("client_id") != self.client_id:
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Missing required parameter [client_id].",
                },
                status_code=400,
            )
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        used = form.get("refresh_token", "")
        self.refreshes.append(used)
        if used not in self.refresh_tokens:
            if used in self.spent:
                self.refresh_tokens.clear()
                self.access_tokens.clear()
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
                status_code=400,
            )
        self.refresh_tokens.discard(used)
        self.spent.add(used)
        serial = next(self._pairs)
        access, refresh = f"x-access-{serial}", f"x-refresh-{serial}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return JSONResponse(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": "dm.read dm.write tweet.read users.read offline.access",
                "refresh_token": refresh,
            }
        )

    def _unauthorized(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.access_tokens:
            return None
        return JSONResponse(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            status_code=401,
        )

    async def _dm(self, request: Request, participant: str) -> JSONResponse:
        if problem := self._unauthorized(request):
            return problem
        if participant not in self.users:
            return JSONResponse(
                {
                    "detail": "You are not permitted to send a DM to this user.",
                    "title": "Forbidden",
                    "type": "about:blank",
                    "status": 403,
                },
                status_code=403,
            )
        text = orjson.loads(await request.body()).get("text")
        if not isinstance(text, str) or not text:
            return JSONResponse(
                {
                    "errors": [{"message": "text must be non-empty", "code": 44}],
                    "title": "Invalid Request",
                    "status": 400,
                },
                status_code=400,
            )
        event = str(1_600_000_000_000_000_000 + next(self._events))
        conversation = f"{participant}-{ME}"
        self.dms.append(
            {
                "participant_id": participant,
                "text": text,
                "dm_event_id": event,
                "token": request.headers["authorization"][7:],
            }
        )
        return JSONResponse(
            {"data": {"dm_conversation_id": conversation, "dm_event_id": event}},
            status_code=201,
            headers={
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "199",
                "x-rate-limit-reset": str(int(time.time()) + 900),
            },
        )

    async def _me(self, request: Request) -> JSONResponse:
        if problem := self._unauthorized(request):
            return problem
        return JSONResponse({"data": {"id": ME, "name": "AICC Support", "username": "aicc"}})


def crc_response(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` X expects for ``crc_token``."""
    digest = hmac.new(consumer_secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def signed(consumer_secret: str, body: bytes) -> dict[str, str]:
    """The headers X sends with a webhook ``body``."""
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return {
        "x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


def dm_activity(sender: str, recipient: str, text: str, *, event_id: str | None = None) -> bytes:
    """An Account Activity delivery of one DM ``sender`` wrote to ``recipient``."""
    event = {
        "type": "message_create",
        "id": event_id or str(uuid.uuid4().int)[:19],
        "created_timestamp": str(int(time.time() * 1000)),
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "message_data": {"text": text, "entities": {}},
        },
    }
    return orjson.dumps({"for_user_id": recipient, "direct_message_events": [event]})
