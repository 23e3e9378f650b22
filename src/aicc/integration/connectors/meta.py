"""Facebook Messenger and Instagram messaging through Meta's Graph API: the Send API, what
Graph's error codes mean, and Meta's webhooks (``hub.challenge``, ``X-Hub-Signature-256``).

Page (and Instagram) access tokens are long-lived and cannot be refreshed by us: when Graph
refuses one (code 190) a person must paste a new one (``reauth``). The token travels as
``Authorization: Bearer``; with ``app_secret`` set every call also carries ``appsecret_proof``
(hex HMAC-SHA256 of the token keyed by the app secret), which apps that "require app secret
proof" insist on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
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
    Outcome,
    Param,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    methods,
)
from aicc.integration.connectors.http import by_status, json_body, retry_after, send

DEFAULT_VERSION = "v21.0"
DEFAULT_WAIT = 60.0
"""Seconds to wait after a throttle when Graph gives no estimate."""

RETRYABLE_CODES = frozenset({1, 2})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80010)})
TERMINAL_CODES = frozenset({10, 100, 368, 551, *range(200, 300)})
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")
TextLimit = tuple[int, Literal["characters", "bytes"]]
TEXT_LIMITS: dict[str, TextLimit] = {"facebook": (2000, "characters"), "instagram": (1000, "bytes")}
"""Messenger counts characters; Instagram counts bytes of UTF-8."""
_VERSION = re.compile(r"v\d+(\.\d+)?")
_BASE_FIELDS = frozenset({"sender", "recipient", "timestamp"})


def send_message(recipient: str, limit: TextLimit, tags: tuple[str, ...]) -> CheckedMethod:
    """``send_message`` with the text limit and the tag rule checked before delivery."""
    size, unit = limit

    def check(args: Mapping[str, Any]) -> None:
        text: str = args["text"]
        length = len(text.encode()) if unit == "bytes" else len(text)
        if length > size:
            raise invalid("text", f"is {length} {unit}; at most {size}")
        kind, tag = args.get("messaging_type"), args.get("tag")
        if kind == "MESSAGE_TAG" and not tag:
            raise invalid("tag", "is required when messaging_type is MESSAGE_TAG")
        if tag and kind not in (None, "MESSAGE_TAG"):
            raise invalid("tag", "is only sent with messaging_type MESSAGE_TAG")

    return CheckedMethod(
        "send_message",
        (
            Param("recipient_id", description=recipient),
            Param("text", description=f"at most {size} {unit}"),
            Param(
                "messaging_type",
                required=False,
                choices=("RESPONSE", "UPDATE", "MESSAGE_TAG"),
                description="RESPONSE (default) answers within 24 h of the person's message; "
                "MESSAGE_TAG (implied by tag) sends later",
            ),
            Param(
                "tag",
                required=False,
                choices=tags,
                description="HUMAN_AGENT: an agent's reply up to 7 days later",
            ),
        ),
        description="Send a text message to a person who wrote to the account",
        check=check,
    )


class GraphConnector(Connector):
    """What Messenger and Instagram share; subclasses set the base URL, limits and tags."""

    type = IntegrationType.SOCIAL
    auth_types = ("page_token",)
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "page_token": ("page_access_token",)
    }
    secret_keys = frozenset({"page_access_token", "app_secret", "verify_token"})
    default_base: ClassVar[str]

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        version = auth_config.get("graph_version")
        if version is not None and not (isinstance(version, str) and _VERSION.fullmatch(version)):
            problems.append("auth_config.graph_version must look like v21.0")
        return problems

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method != "send_message":
            raise ProviderError(
                f"unknown method {method!r}", code="unknown_method", outcome="terminal"
            )
        body = self._message(args)
        response = await self._graph(ctx, "POST", "messages", json=body)
        data = json_body(response)
        data = data if isinstance(data, dict) else {}
        return {"recipient_id": data.get("recipient_id"), "message_id": data.get("message_id")}

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """The page (or Instagram account) the token belongs to: ``{"id", "name"}``."""
        response = await self._graph(ctx, "GET", None, params={"fields": "id,name"})
        data = json_body(response)
        data = data if isinstance(data, dict) else {}
        return {"id": data.get("id"), "name": data.get("name")}

    def _message(self, args: dict[str, Any]) -> dict[str, Any]:
        tag = args.get("tag")
        body: dict[str, Any] = {
            "recipient": {"id": args["recipient_id"]},
            "messaging_type": args.get("messaging_type") or ("MESSAGE_TAG" if tag else "RESPONSE"),
            "message": {"text": args["text"]},
        }
        if tag:
            body["tag"] = tag
        return body

    async def _graph(
        self, ctx: CallContext, verb: str, edge: str | None, **kwargs: Any
    ) -> httpx2.Response:
        """One call to ``{base}/{version}/{page_id}[/{edge}]`` with the page token."""
        integration = ctx.integration
        base, version = graph_base(integration, self.default_base)
        page = quote(str(integration.setting("page_id") or "me"), safe="")
        url = f"{base}/{version}/{page}" + (f"/{edge}" if edge else "")
        token = str(integration.setting("page_access_token") or "")
        params = dict(kwargs.pop("params", {}))
        secret = integration.setting("app_secret")
        if secret:
            params["appsecret_proof"] = hmac.new(
                str(secret).encode(), token.encode(), hashlib.sha256
            ).hexdigest()
        headers = {"Authorization": f"Bearer {token}"}
        return await send(
            ctx, verb, url, params=params, headers=headers, classify=graph_error, **kwargs
        )

    async def webhook_handshake(
        self, ctx: CallContext, request: WebhookRequest
    ) -> WebhookReply | None:
        """Meta's subscription check. A wrong ``hub.verify_token`` is a 403, as Meta documents
        (not our usual 401), so the dashboard shows the familiar failure."""
        query = request.query
        if "hub.mode" not in query and "hub.challenge" not in query:
            return None
        expected = str(ctx.integration.setting("verify_token") or "")
        given = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") != "subscribe"
            or not expected
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            return WebhookReply(403, b"hub.verify_token does not match")
        challenge = query.get("hub.challenge")
        if not challenge:
            return WebhookReply(400, b"hub.challenge is missing")
        return WebhookReply(200, challenge.encode())

    async def verify_webhook(self, ctx: CallContext, request: WebhookRequest) -> list[WebhookEvent]:
        secret = str(ctx.integration.setting("app_secret") or "")
        if not secret:
            raise WebhookRejected("auth_config.app_secret is not set; cannot verify signatures")
        header = request.headers.get("x-hub-signature-256", "")
        scheme, _, given = header.partition("=")
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if scheme != "sha256" or not hmac.compare_digest(given.lower().encode(), expected.encode()):
            raise WebhookRejected("X-Hub-Signature-256 is missing or does not match")
        return graph_events(request.body)


class FacebookConnector(GraphConnector):
    """Facebook Messenger: a Page's conversations (text ≤ 2000 characters)."""

    provider = "facebook"
    aliases = ("messenger", "facebook_messenger")
    hosts = ("graph.facebook.com", "facebook.com")
    keywords = ("fb",)
    default_base = "https://graph.facebook.com"
    methods = methods(
        send_message(
            "page-scoped id (PSID) of the person",
            TEXT_LIMITS["facebook"],
            ("HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE"),
        )
    )


class InstagramConnector(GraphConnector):
    """Instagram messaging, either login flavour: ``graph.instagram.com`` with an Instagram
    user token (``page_id`` = the IG user id or ``me``) or ``graph.facebook.com`` with the
    linked Page's token (text ≤ 1000 bytes)."""

    provider = "instagram"
    aliases = ("ig",)
    hosts = ("graph.instagram.com", "instagram.com")
    default_base = "https://graph.instagram.com"
    methods = methods(
        send_message(
            "Instagram-scoped id (IGSID) of the person", TEXT_LIMITS["instagram"], ("HUMAN_AGENT",)
        )
    )


def graph_base(integration: Integration, default: str) -> tuple[str, str]:
    """The Graph base URL and API version; a version at the end of ``endpoint_url``
    (``https://graph.facebook.com/v21.0``) counts unless ``graph_version`` is set."""
    base = (integration.endpoint_url or default).rstrip("/")
    version = integration.setting("graph_version")
    head, _, last = base.rpartition("/")
    if head and _VERSION.fullmatch(last):
        base, version = head, version or last
    return base, str(version or DEFAULT_VERSION)


def graph_error(response: httpx2.Response) -> ProviderError | None:
    """A Graph error body ``{"error": {"message", "type", "code", "error_subcode"}}`` read by
    its code; Graph throttles with 400/403, never 429."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        failure = by_status(response)
        if failure.outcome == "refresh":
            failure.outcome = "reauth"
        return failure
    code: int = error["code"]
    subcode = error.get("error_subcode")
    message = str(error.get("message") or f"Graph error {code}")
    wait: float | None = None
    outcome: Outcome
    if code in RETRYABLE_CODES:
        outcome = "retryable"
    elif code in THROTTLE_CODES:
        outcome, wait = "throttled", throttle_wait(response)
    elif code == 190:
        outcome = "reauth"
    elif code in TERMINAL_CODES or (isinstance(subcode, int) and 2018000 <= subcode < 2019000):
        outcome = "terminal"
    else:
        fallback = by_status(response)
        outcome = "reauth" if fallback.outcome == "refresh" else fallback.outcome
        wait = fallback.retry_after
    return ProviderError(
        message,
        code=str(code),
        outcome=outcome,
        status=response.status_code,
        retry_after=wait,
        details=error,
    )


def throttle_wait(response: httpx2.Response) -> float:
    """Seconds until Graph lets us call again: the largest ``estimated_time_to_regain_access``
    (minutes) in the usage headers, else ``Retry-After``, else a minute."""
    minutes: list[float] = []
    for name in USAGE_HEADERS:
        raw = response.headers.get(name)
        if raw:
            try:
                _collect_estimates(orjson.loads(raw), minutes)
            except orjson.JSONDecodeError:
                continue
    if minutes and max(minutes) > 0:
        return max(minutes) * 60.0
    return retry_after(response) or DEFAULT_WAIT


def _collect_estimates(value: Any, out: list[float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "estimated_time_to_regain_access" and isinstance(item, int | float):
                out.append(float(item))
            else:
                _collect_estimates(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_estimates(item, out)


def graph_events(raw: bytes) -> list[WebhookEvent]:
    """One event per ``messaging``/``standby`` item and per ``changes`` item of each entry.

    A message is known by its ``mid``; anything else (read, delivery, postback, reaction, an
    edit of a message) by ``{entry id}:{timestamp}:{sender}:{type}``.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationFailed("the webhook body is not JSON", code="invalid_webhook") from None
    entries = body.get("entry") if isinstance(body, dict) else None
    events: list[WebhookEvent] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        entry_id = str(entry.get("id", ""))
        for key in ("messaging", "standby"):
            for item in _dicts(entry.get(key)):
                events.append(_messaging_event(entry_id, item, standby=key == "standby"))
        for change in _dicts(entry.get("changes")):
            field = str(change.get("field") or "change")
            value = change.get("value")
            value_id = value.get("id") if isinstance(value, dict) else None
            event_id = str(value_id) if value_id else f"{entry_id}:{entry.get('time')}:{field}"
            events.append(WebhookEvent(event_id=event_id, event_type=field, data=change))
    return events


def _messaging_event(entry_id: str, item: dict[str, Any], *, standby: bool) -> WebhookEvent:
    kind = (
        "message"
        if "message" in item
        else next((k for k in item if k not in _BASE_FIELDS), "unknown")
    )
    message = item.get("message")
    if kind == "message" and isinstance(message, dict) and message.get("mid"):
        event_type = "message_echo" if message.get("is_echo") else "message"
        event_id = str(message["mid"])
    else:
        event_type = kind
        sender = item.get("sender")
        sender_id = sender.get("id") if isinstance(sender, dict) else None
        event_id = f"{entry_id}:{item.get('timestamp')}:{sender_id}:{kind}"
    if standby:
        event_type = "standby_" + event_type
    return WebhookEvent(event_id=event_id, event_type=event_type, data=item)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
