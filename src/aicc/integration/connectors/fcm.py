"""Firebase Cloud Messaging, HTTP v1: a push to a device token or a topic.

The service account's key signs an RS256 assertion (RFC 7523) that the account's
``token_uri`` exchanges for a one-hour access token; the core caches it. The FCM base URL is the
integration's ``endpoint_url`` as given (``https://fcm.googleapis.com``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx2
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    Integration,
    IntegrationType,
    Param,
    ProviderError,
    Token,
    methods,
)
from aicc.integration.connectors.http import by_status, json_body, oauth_token, send

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
DEFAULT_BASE = "https://fcm.googleapis.com"
HEALTH_TOPIC = "aicc-health"
TOPIC = re.compile(r"[a-zA-Z0-9\-_.~%]{1,900}")
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
TERMINAL_CODES = frozenset(
    {
        "UNREGISTERED",
        "INVALID_ARGUMENT",
        "SENDER_ID_MISMATCH",
        "THIRD_PARTY_AUTH_ERROR",
        "APNS_AUTH_ERROR",
        "PERMISSION_DENIED",
        "NOT_FOUND",
    }
)
"""Retrying cannot help; ``THIRD_PARTY_AUTH_ERROR`` comes as a 401 but is the APNs or web-push
credential of the Firebase project, not our token. ``UNREGISTERED``: delete the device token."""


class FcmConnector(Connector):
    provider = "fcm"
    aliases = ("firebase",)
    type = IntegrationType.NOTIFICATION
    hosts = ("fcm.googleapis.com",)
    auth_types = ("service_account",)
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "service_account": ("service_account",)
    }
    secret_keys = frozenset({"service_account"})
    health_method = "messages:send?validate_only"
    methods = methods(
        CheckedMethod(
            "send_push",
            (
                Param("token", required=False, description="device registration token"),
                Param("topic", required=False, description="topic name"),
                Param("title", required=False),
                Param("body", required=False),
                Param("data", "object", required=False, description="string values only"),
                Param("validate_only", "boolean", required=False),
            ),
            one_of=(("token", "topic"), ("title", "body", "data")),
            description="Send a push notification to a device token or a topic",
            check=lambda args: _message(args),
        ),
    )

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        if problems:
            return problems
        try:
            account = _parse(auth_config["service_account"])
        except ValueError as exc:
            return [f"auth_config.service_account: {exc}"]
        if not account.get("project_id") and not auth_config.get("project_id"):
            problems.append("auth_config.service_account has no project_id; set project_id")
        return problems

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:  # noqa: ARG002
        try:
            account = _parse(ctx.integration.auth_config.get("service_account"))
        except ValueError as exc:
            raise ProviderError(
                f"the service account is unusable: {exc}",
                code="invalid_service_account",
                outcome="reauth",
            ) from None
        token_uri = account.get("token_uri") or DEFAULT_TOKEN_URI
        now = int(time.time())
        claims = {
            "iss": account["client_email"],
            "scope": SCOPE,
            "aud": token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        assertion = jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)
        return await oauth_token(ctx, token_uri, {"grant_type": GRANT, "assertion": assertion})

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method != "send_push":
            raise ProviderError(
                f"unknown method {method}", code="unknown_method", outcome="terminal"
            )
        body: dict[str, Any] = {"message": _message(args)}
        if args.get("validate_only"):
            body["validate_only"] = True
        answer = await self._send(ctx, body)
        return {"message_name": answer.get("name")}

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """A token (proves the key) and a ``validate_only`` send to the topic
        ``aicc-health`` (proves the project and the permission; delivers nothing)."""
        body = {"message": {"topic": HEALTH_TOPIC, "data": {"ping": "1"}}, "validate_only": True}
        await self._send(ctx, body)
        return {
            "ok": True,
            "detail": "a validate_only message to the topic aicc-health was accepted",
            "project_id": _project(ctx.integration),
        }

    async def _send(self, ctx: CallContext, body: dict[str, Any]) -> dict[str, Any]:
        token = await ctx.token()
        base = (ctx.integration.endpoint_url or DEFAULT_BASE).rstrip("/")
        url = f"{base}/v1/projects/{_project(ctx.integration)}/messages:send"
        response = await send(
            ctx,
            "POST",
            url,
            content=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {token.access_token}",
                "Content-Type": "application/json; charset=utf-8",
            },
            classify=_fcm_error,
        )
        answer = json_body(response)
        return answer if isinstance(answer, dict) else {}


def _parse(raw: Any) -> dict[str, str]:
    """The service-account JSON (an object or its text) with a usable RSA key."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError("is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ValueError("must be the service-account JSON object")
    for name in ("client_email", "private_key"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise ValueError(f"has no {name}")
    try:
        key = load_pem_private_key(raw["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("private_key is not a PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("private_key is not an RSA key")
    return {k: v for k, v in raw.items() if isinstance(v, str)}


def _project(integration: Integration) -> str:
    project = integration.setting("project_id")
    if not project:
        account = integration.auth_config.get("service_account")
        if isinstance(account, str):
            account = orjson.loads(account)
        project = account.get("project_id") if isinstance(account, dict) else None
    return str(project or "")


def _message(args: Mapping[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if "token" in args:
        if "topic" in args:
            raise invalid("topic", "give either token or topic, not both")
        message["token"] = args["token"]
    else:
        topic = args["topic"].removeprefix("/topics/")
        if not TOPIC.fullmatch(topic):
            raise invalid("topic", "may hold only letters, digits and -_.~%")
        message["topic"] = topic
    notification = {k: args[k] for k in ("title", "body") if k in args}
    if notification:
        message["notification"] = notification
    data = args.get("data")
    if data is not None:
        not_text = sorted(k for k, v in data.items() if not isinstance(v, str))
        if not_text:
            raise invalid("data", "values must be strings: " + ", ".join(not_text))
        reserved = sorted(
            k for k in data if k in RESERVED_DATA_KEYS or k.startswith(("google", "gcm"))
        )
        if reserved:
            raise invalid("data", "reserved keys: " + ", ".join(reserved))
        message["data"] = data
    return message


def _fcm_error(response: httpx2.Response) -> ProviderError | None:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details = error.get("details")
    if not isinstance(details, list):
        details = []
    fcm_code = next(
        (
            d.get("errorCode")
            for d in details
            if isinstance(d, dict) and str(d.get("@type", "")).endswith("FcmError")
        ),
        None,
    )
    code = str(fcm_code or error.get("status") or f"http_{response.status_code}")
    failure = by_status(response, code=code, message=str(error.get("message") or code))
    if code in TERMINAL_CODES:
        failure.outcome = "terminal"
    elif code == "QUOTA_EXCEEDED":
        failure.outcome = "throttled"
    elif code in ("UNAVAILABLE", "INTERNAL"):
        failure.outcome = "retryable"
    elif code == "UNAUTHENTICATED":
        failure.outcome = "refresh"
    return failure
