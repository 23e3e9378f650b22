"""Google's OAuth token endpoint (the JWT-bearer grant of a service account) and Firebase Cloud
Messaging's HTTP v1 ``messages:send``.

The token endpoint verifies the assertion's RS256 signature against the public keys of the
service accounts made by :meth:`FakeGoogle.service_account`, its audience, scope, issuer and
lifetime, and refuses anything else with ``invalid_grant``. ``messages:send`` checks the Bearer
token, the message (one target, string data values) and the device registry, and records what
it accepted. Quota and availability errors are injected as :class:`Fault` s
(:func:`fcm_fault`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider, Fault

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_error_body(status: int, name: str, message: str, error_code: str | None = None) -> Any:
    """FCM's error shape: google.rpc.Status with an FcmError detail."""
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if error_code is not None:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": error_code}]
    return {"error": error}


def fcm_fault(status: int, name: str, error_code: str, *, retry_after: int | None = None) -> Fault:
    """The next ``messages:send`` fails so (``429 RESOURCE_EXHAUSTED QUOTA_EXCEEDED``,
    ``503 UNAVAILABLE UNAVAILABLE``, ...)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Fault(
        status=status,
        body=fcm_error_body(status, name, f"injected {error_code}", error_code),
        headers=headers,
        path="messages:send",
    )


class FakeGoogle(FakeProvider):
    def __init__(self, project_id: str = "aicc-test") -> None:
        super().__init__("Google OAuth and FCM stand-in")
        self.project_id = project_id
        self.client_email = f"aicc-fcm@{project_id}.iam.gserviceaccount.com"
        self.trusted: list[rsa.RSAPublicKey] = []
        self.devices: set[str] = set()
        self.access_tokens: dict[str, float] = {}
        self.assertions: list[dict[str, Any]] = []
        """Claims of every assertion the token endpoint accepted."""
        self.sent: list[dict[str, Any]] = []
        """Each delivered message with the Authorization header it came with."""
        self.validated: list[dict[str, Any]] = []
        self.app.post("/token")(self._token)
        self.app.post("/v1/projects/{project}/messages:send")(self._send)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account(self, *, trusted: bool = True) -> dict[str, str]:
        """A fresh service-account JSON whose ``token_uri`` is this stand-in; with
        ``trusted=False`` its key is unknown here (as with a deleted key)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if trusted:
            self.trusted.append(key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    def register_device(self) -> str:
        token = "dev-" + secrets.token_urlsafe(24)
        self.devices.add(token)
        return token

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on."""
        self.access_tokens.clear()

    async def _token(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != GRANT:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type")
        claims = self._verify(form.get("assertion", ""))
        if isinstance(claims, str):
            return _oauth_error("invalid_grant", claims)
        self.assertions.append(claims)
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = time.time() + 3599
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _verify(self, assertion: str) -> dict[str, Any] | str:
        """The assertion's claims, or why it is refused."""
        for key in self.trusted:
            try:
                claims: dict[str, Any] = jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256"],
                    audience=self.token_uri,
                    options={"require": ["iss", "aud", "iat", "exp"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                return f"Invalid JWT: {exc}"
            break
        else:
            return "Invalid JWT Signature."
        if claims["iss"] != self.client_email:
            return "Invalid JWT: unknown issuer"
        if SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid JWT: the scope does not include firebase.messaging"
        if claims["exp"] - claims["iat"] > 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes)"
        return claims

    async def _send(self, project: str, request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ")
        if self.access_tokens.get(token, 0) < time.time():
            return _fcm(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if project != self.project_id:
            return _fcm(403, "PERMISSION_DENIED", "Permission denied", "SENDER_ID_MISMATCH")
        body = await request.json()
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return _fcm(400, "INVALID_ARGUMENT", "message is required", "INVALID_ARGUMENT")
        targets = [k for k in ("token", "topic", "condition") if k in message]
        if len(targets) != 1:
            return _fcm(400, "INVALID_ARGUMENT", "exactly one target", "INVALID_ARGUMENT")
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return _fcm(400, "INVALID_ARGUMENT", "data values must be strings", "INVALID_ARGUMENT")
        if "token" in message and message["token"] not in self.devices:
            return _fcm(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if body.get("validate_only"):
            self.validated.append(message)
            return JSONResponse({"name": f"projects/{project}/messages/fake_message_id"})
        name = f"projects/{project}/messages/0:{uuid.uuid4().hex}"
        self.sent.append({"name": name, "message": message, "authorization": authorization})
        return JSONResponse({"name": name})


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _fcm(status: int, name: str, message: str, error_code: str | None = None) -> JSONResponse:
    return JSONResponse(fcm_error_body(status, name, message, error_code), status_code=status)
