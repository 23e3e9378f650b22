"""A stand-in for Meta's Graph Send API, Messenger (``page``) or Instagram flavour, and the
signed webhook deliveries Meta makes.

Like Graph it answers errors as ``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}`` with HTTP 400/403 (never 429): an expired token is code 190 subcode 463, an
unknown recipient code 100 subcode 2018001, an unavailable one code 551; throttles (4, 17,
32, 613) come from :meth:`FakeGraph.throttle` with an ``X-Business-Use-Case-Usage`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from typing import Any, Literal

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider, Fault

Flavour = Literal["page", "instagram"]
PAGE_TOKEN = "PAGE-TOKEN"
APP_SECRET = "app-secret"
TAGS = {"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"}


class FakeGraph(FakeProvider):
    """``POST /{version}/{page}/messages`` and ``GET /{version}/{page}``; ``page`` is ``me``
    or :attr:`page_id`. With :attr:`app_secret` set every call must carry a correct
    ``appsecret_proof`` ("Require App Secret" switched on)."""

    def __init__(
        self,
        flavour: Flavour = "page",
        *,
        token: str = PAGE_TOKEN,
        app_secret: str | None = APP_SECRET,
        page_id: str = "1122334455",
        recipients: tuple[str, ...] = ("PSID-1",),
    ) -> None:
        super().__init__("fake graph api" if flavour == "page" else "fake instagram graph api")
        self.flavour = flavour
        self.token = token
        self.app_secret = app_secret
        self.page_id = page_id
        self.name = "AICC Page" if flavour == "page" else "aicc.insta"
        self.recipients = set(recipients)
        self.unavailable: set[str] = set()
        self.expired: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.versions: list[str] = []
        self.app.add_api_route("/{version}/{page}/messages", self._send, methods=["POST"])
        self.app.add_api_route("/{version}/{page}", self._page, methods=["GET"])

    def expire_token(self) -> None:
        """Graph now answers 190/463 ("Session has expired") to the token."""
        self.expired.add(self.token)

    def throttle(self, code: int = 613, *, minutes: int = 5, status: int = 400) -> Fault:
        """The next send is refused as throttled, with Meta's usage header."""
        usage = {
            self.page_id: [
                {
                    "type": "messenger" if self.flavour == "page" else "instagram",
                    "call_count": 100,
                    "total_cputime": 30,
                    "total_time": 40,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        messages = {
            4: "(#4) Application request limit reached",
            17: "(#17) User request limit reached",
            32: "(#32) Page request limit reached",
            613: "(#613) Calls to this api have exceeded the rate limit.",
        }
        body = graph_error_body(code, messages.get(code, f"(#{code}) Rate limited"))
        return Fault(
            status=status,
            body=body,
            headers={"x-business-use-case-usage": orjson.dumps(usage).decode()},
            path="/messages",
        )

    @property
    def text_limit(self) -> int:
        return 2000 if self.flavour == "page" else 1000

    def _auth_problem(self, request: Request, page: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        token = token or request.query_params.get("access_token")
        if not token:
            return _error(400, 104, "An access token is required to request this resource.")
        if token in self.expired:
            return _error(
                400,
                190,
                "Error validating access token: Session has expired on Tuesday.",
                subcode=463,
            )
        if token != self.token:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret is not None:
            proof = request.query_params.get("appsecret_proof")
            if not proof:
                return _error(400, 100, "API calls from the server require an appsecret_proof")
            expected = hmac.new(
                self.app_secret.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(proof, expected):
                return _error(400, 100, "Invalid appsecret_proof provided in the API argument")
        if page not in ("me", self.page_id):
            return _error(
                400,
                100,
                f"Unsupported post request. Object with ID '{page}' does not exist",
                subcode=33,
            )
        return None

    async def _page(self, request: Request, version: str, page: str) -> JSONResponse:
        self.versions.append(version)
        if problem := self._auth_problem(request, page):
            return problem
        return JSONResponse({"id": self.page_id, "name": self.name})

    async def _send(self, request: Request, version: str, page: str) -> JSONResponse:
        self.versions.append(version)
        if not re.fullmatch(r"v\d+\.\d+", version):
            return _error(400, 2500, f"Unknown path components: /{version}")
        if problem := self._auth_problem(request, page):
            return problem
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, 100, "(#100) The parameter recipient is required")
        recipient = (body.get("recipient") or {}).get("id")
        text = (body.get("message") or {}).get("text")
        messaging_type = body.get("messaging_type", "RESPONSE")
        tag = body.get("tag")
        if not recipient:
            return _error(400, 100, "(#100) The parameter recipient is required")
        if not isinstance(text, str) or not text:
            return _error(400, 100, "(#100) param message must be non-empty")
        size = len(text) if self.flavour == "page" else len(text.encode())
        if size > self.text_limit:
            return _error(
                400, 100, f"(#100) Length of param message[text] must be at most {self.text_limit}"
            )
        if messaging_type not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _error(400, 100, "(#100) Param messaging_type must be one of RESPONSE, ...")
        if messaging_type == "MESSAGE_TAG" and tag not in TAGS:
            return _error(400, 100, "(#100) Tag is required for MESSAGE_TAG")
        if recipient in self.unavailable:
            return _error(
                400, 551, "(#551) This person isn't available right now.", subcode=1545041
            )
        if recipient not in self.recipients:
            return _error(400, 100, "(#100) No matching user found", subcode=2018001)
        mid = f"m_{uuid.uuid4().hex}"
        self.messages.append(
            {
                "recipient_id": recipient,
                "text": text,
                "messaging_type": messaging_type,
                "tag": tag,
                "message_id": mid,
            }
        )
        return JSONResponse({"recipient_id": recipient, "message_id": mid})


def graph_error_body(code: int, message: str, *, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + uuid.uuid4().hex[:22],
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _error(status: int, code: int, message: str, *, subcode: int | None = None) -> JSONResponse:
    return JSONResponse(graph_error_body(code, message, subcode=subcode), status_code=status)


def message_item(
    sender: str, recipient: str, text: str, *, mid: str | None = None, timestamp: int | None = None
) -> dict[str, Any]:
    """One ``messaging`` item for a text a person sent."""
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": timestamp or int(time.time() * 1000),
        "message": {"mid": mid or f"m_{uuid.uuid4().hex}", "text": text},
    }


def webhook_body(obj: str, page_id: str, *items: dict[str, Any]) -> bytes:
    """A delivery as Meta posts it: one entry for the page with ``items`` as ``messaging``."""
    now = int(time.time() * 1000)
    entry = {"id": page_id, "time": now, "messaging": list(items)}
    return orjson.dumps({"object": obj, "entry": [entry]})


def signed(app_secret: str, body: bytes) -> dict[str, str]:
    """The headers Meta sends with ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
