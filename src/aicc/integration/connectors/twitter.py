"""X (Twitter) Direct Messages through API v2 with an OAuth 2.0 user-context token, and X's
webhooks (CRC challenge, ``x-twitter-webhooks-signature``).

X rotates refresh tokens: every refresh answers a new refresh token and the old one stops
working at once. :meth:`TwitterConnector.fetch_token` therefore refreshes with
``current.refresh_token`` (the newest, which the core keeps with the cached token) and uses
``auth_config.refresh_token`` only before the first refresh. Should the stored token be lost
after a rotation, the configured refresh token is already spent: X answers ``invalid_grant``
and the integration needs re-authorisation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx2
import orjson

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    Integration,
    IntegrationType,
    Param,
    ProviderError,
    Token,
    WebhookEvent,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    methods,
)
from aicc.integration.connectors.http import by_status, json_body, oauth_token, retry_after, send

DEFAULT_BASE = "https://api.x.com"
DM_TEXT_LIMIT = 10_000


def _check_dm(args: Mapping[str, Any]) -> None:
    participant: str = args["participant_id"]
    if not (participant.isascii() and participant.isdigit()):
        raise invalid("participant_id", "must be a numeric X user id")
    if len(args["text"]) > DM_TEXT_LIMIT:
        raise invalid("text", f"is {len(args['text'])} characters; at most {DM_TEXT_LIMIT}")


class TwitterConnector(Connector):
    """X Direct Messages as the user who authorised the app (app-only tokens cannot DM)."""

    provider = "twitter"
    aliases = ("x",)
    type = IntegrationType.SOCIAL
    hosts = ("api.x.com", "api.twitter.com", "x.com", "twitter.com")
    auth_types = ("oauth2",)
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {"oauth2": ()}
    secret_keys = frozenset({"access_token", "refresh_token", "client_secret", "consumer_secret"})
    methods = methods(
        CheckedMethod(
            "send_dm",
            (
                Param("participant_id", description="the recipient's numeric X user id"),
                Param("text", description=f"at most {DM_TEXT_LIMIT} characters"),
            ),
            description="Send a direct message in the one-to-one conversation with a user",
            check=_check_dm,
        )
    )

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        if not auth_config.get("access_token") and not auth_config.get("refresh_token"):
            problems.append("auth_config.access_token or auth_config.refresh_token is required")
        if auth_config.get("refresh_token") and not auth_config.get("client_id"):
            problems.append("auth_config.client_id is required to refresh tokens")
        return problems

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method != "send_dm":
            raise ProviderError(
                f"unknown method {method!r}", code="unknown_method", outcome="terminal"
            )
        participant = quote(args["participant_id"], safe="")
        url = f"{api_base(ctx.integration)}/2/dm_conversations/with/{participant}/messages"
        response = await self._api(ctx, "POST", url, json={"text": args["text"]})
        data = _data(response)
        return {
            "dm_conversation_id": data.get("dm_conversation_id"),
            "dm_event_id": data.get("dm_event_id"),
        }

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """The authorising user: ``{"id", "username", "name"}``."""
        response = await self._api(ctx, "GET", f"{api_base(ctx.integration)}/2/users/me")
        data = _data(response)
        return {"id": data.get("id"), "username": data.get("username"), "name": data.get("name")}

    async def _api(self, ctx: CallContext, verb: str, url: str, **kwargs: Any) -> httpx2.Response:
        token = await ctx.token()
        headers = {"Authorization": f"Bearer {token.access_token}"}
        return await send(ctx, verb, url, headers=headers, classify=x_error, **kwargs)

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:
        """The configured access token the first time (its expiry unknown: it is replaced
        when X refuses it); afterwards a refresh-token grant with the newest refresh token.
        A confidential client (``client_secret`` set) authenticates with HTTP Basic."""
        integration = ctx.integration
        configured_access = integration.setting("access_token")
        configured_refresh = integration.setting("refresh_token") or None
        if current is None and configured_access:
            return Token(access_token=str(configured_access), refresh_token=configured_refresh)
        refresh = (current.refresh_token if current else None) or configured_refresh
        if not refresh:
            raise ProviderError(
                "X refused the access token and there is no refresh_token to renew it",
                code="no_refresh_token",
                outcome="reauth",
            )
        client_id = str(integration.setting("client_id") or "")
        secret = integration.setting("client_secret")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": str(refresh),
            "client_id": client_id,
        }
        try:
            return await oauth_token(
                ctx,
                token_url(integration),
                form,
                auth=(client_id, str(secret)) if secret else None,
                refresh_token=str(refresh),
            )
        except ProviderError as exc:
            # X answers a spent or revoked refresh token with 400 invalid_request ("Value
            # passed for the token was invalid."), not invalid_grant: a person must act.
            if exc.status == 400 and exc.code == "invalid_request":
                raise ProviderError(
                    "X refused the refresh token (spent or revoked); authorise the app again",
                    code="invalid_request",
                    outcome="reauth",
                    status=400,
                    details=exc.details,
                ) from None
            raise

    async def webhook_handshake(
        self, ctx: CallContext, request: WebhookRequest
    ) -> WebhookReply | None:
        """X's challenge-response check (CRC), at registration and hourly."""
        crc = request.query.get("crc_token")
        if crc is None:
            return None
        digest = _sign(_consumer_secret(ctx), crc.encode())
        return WebhookReply(
            200, orjson.dumps({"response_token": f"sha256={digest}"}), "application/json"
        )

    async def verify_webhook(self, ctx: CallContext, request: WebhookRequest) -> list[WebhookEvent]:
        expected = "sha256=" + _sign(_consumer_secret(ctx), request.body)
        given = request.headers.get("x-twitter-webhooks-signature", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected("x-twitter-webhooks-signature is missing or does not match")
        return activity_events(request.body)


def api_base(integration: Integration) -> str:
    base = (integration.endpoint_url or DEFAULT_BASE).rstrip("/")
    return base.removesuffix("/2")


def token_url(integration: Integration) -> str:
    """``auth_config.token_url``, else the token endpoint on the API host."""
    return str(integration.setting("token_url") or f"{api_base(integration)}/2/oauth2/token")


def x_error(response: httpx2.Response) -> ProviderError | None:
    """X's problem-details (``title``, ``detail``) or v1.1-style (``errors[0].code``) body;
    a 429 waits until ``x-rate-limit-reset``."""
    body = json_body(response)
    code: str | None = None
    message: str | None = None
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        first = first if isinstance(first, dict) else {}
        title = body.get("title")
        code = str(title) if title else (str(first["code"]) if "code" in first else None)
        text = body.get("detail") or first.get("message") or title
        message = str(text) if text else None
    failure = by_status(response, code=code, message=message)
    if response.status_code == 429:
        failure.retry_after = rate_limit_wait(response)
        failure.code = code or "rate_limited"
    return failure


def rate_limit_wait(response: httpx2.Response, *, now: float | None = None) -> float | None:
    """Seconds until ``x-rate-limit-reset`` (epoch seconds), else ``Retry-After``."""
    reset = response.headers.get("x-rate-limit-reset", "").strip()
    if reset.isdigit():
        return max(0.0, float(reset) - (now if now is not None else time.time()))
    return retry_after(response)


def activity_events(raw: bytes) -> list[WebhookEvent]:
    """One event per item of each ``*_events`` array (Account Activity shape).

    An item is known by its ``id`` (``id_str`` for tweets); items without one (follows,
    deletions) by a hash of their content. ``event_type`` is the item's ``type``, else the
    array's name without ``_events``. ``data`` is the item plus ``for_user_id``.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationFailed("the webhook body is not JSON", code="invalid_webhook") from None
    if not isinstance(body, dict):
        return []
    user = body.get("for_user_id")
    events: list[WebhookEvent] = []
    for key, items in body.items():
        if not key.endswith("_events") or not isinstance(items, list):
            continue
        kind = key.removesuffix("_events")
        for item in items:
            if not isinstance(item, dict):
                continue
            ident = item.get("id_str") or item.get("id")
            if not ident:
                digest = hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS))
                ident = f"{kind}:{digest.hexdigest()[:32]}"
            data = {**item, "for_user_id": user} if user is not None else item
            events.append(
                WebhookEvent(
                    event_id=str(ident), event_type=str(item.get("type") or kind), data=data
                )
            )
    return events


def _consumer_secret(ctx: CallContext) -> bytes:
    secret = ctx.integration.setting("consumer_secret")
    if not secret:
        raise WebhookRejected("auth_config.consumer_secret is not set; cannot verify X")
    return str(secret).encode()


def _sign(secret: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(secret, data, hashlib.sha256).digest()).decode()


def _data(response: httpx2.Response) -> dict[str, Any]:
    body = json_body(response)
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}
