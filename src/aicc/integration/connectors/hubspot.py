"""HubSpot CRM over the v3 objects API: contacts, notes (calls logged) and tickets.

A private-app token (``bearer``) is used as is: a 401 means a person must replace it. An OAuth
app (``oauth2``) refreshes its 30-minute access token with the refresh token. Webhooks are
verified with the v3 signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2
import orjson

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    ProviderError,
    Token,
    WebhookEvent,
    WebhookRejected,
    WebhookRequest,
    customer,
)
from aicc.integration.connectors.crm import CrmWording, crm_methods
from aicc.integration.connectors.http import Classifier, by_status, json_body, oauth_token, send

API_URL = "https://api.hubapi.com"
CONTACT_PROPERTIES = ("firstname", "lastname", "email", "phone", "mobilephone")
PRIORITIES = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
NOTE_TO_CONTACT = 202
TICKET_TO_CONTACT = 16
SIGNATURE_MAX_AGE_MS = 300_000
_URI_DECODES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
"""Characters HubSpot decodes in the request URI before signing it (v3)."""


def _id_problem(record_id: str) -> str | None:
    if record_id.isascii() and record_id.isdigit() and len(record_id) <= 20:
        return None
    return "must be a HubSpot record id (digits)"


CRM_METHODS = crm_methods(
    _id_problem,
    CrmWording(
        customer_id="Contact record id",
        read="Read a contact",
        search="Contacts whose phone and/or email equal the values given",
        log="Log a call as a note on the contact",
        fields="Contact property names and values",
        case="Open a ticket for the contact (priority defaults to medium)",
    ),
)


class HubSpotConnector(Connector):
    provider = "hubspot"
    type = IntegrationType.CRM
    hosts = ("hubapi.com", "hubspot.com")
    auth_types = ("bearer", "oauth2")
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "bearer": ("access_token",),
        "oauth2": ("client_id", "client_secret", "refresh_token"),
    }
    secret_keys = frozenset({"access_token", "client_secret", "refresh_token", "app_secret"})
    methods = CRM_METHODS

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:
        integration = ctx.integration
        config = integration.auth_config
        if integration.auth_type != "oauth2":
            return Token(access_token=config["access_token"])
        refresh = (current.refresh_token if current else None) or config["refresh_token"]
        token_url = config.get("token_url") or _origin(integration.endpoint_url) + "/oauth/v1/token"
        form = {
            "grant_type": "refresh_token",
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
            "refresh_token": refresh,
        }
        return await oauth_token(ctx, token_url, form, refresh_token=refresh)

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        handler = _CALLS.get(method)
        if handler is None:
            raise ValidationFailed(f"hubspot has no method {method!r}", code="unknown_method")
        return await handler(await _Api.open(ctx), args)

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        api = await _Api.open(ctx)
        await api.json("GET", "/crm/v3/objects/contacts", params={"limit": 1})
        return {"contacts": "readable"}

    async def verify_webhook(self, ctx: CallContext, request: WebhookRequest) -> list[WebhookEvent]:
        config = ctx.integration.auth_config
        secret = config.get("client_secret") or config.get("app_secret")
        if not secret:
            raise WebhookRejected("auth_config.client_secret is needed to verify HubSpot webhooks")
        signature = request.headers.get("x-hubspot-signature-v3", "")
        timestamp = request.headers.get("x-hubspot-request-timestamp", "")
        if not signature or not timestamp.isdigit():
            raise WebhookRejected("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        if abs(time.time() * 1000 - int(timestamp)) > SIGNATURE_MAX_AGE_MS:
            raise WebhookRejected("the request timestamp is more than 5 minutes old")
        if not request.url:
            raise WebhookRejected("the request URL is unknown, so the signature cannot be checked")
        expected = signature_v3(secret, request.method, request.url, request.body, timestamp)
        if not hmac.compare_digest(expected, signature):
            raise WebhookRejected("the X-HubSpot-Signature-v3 does not match")
        try:
            events = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            events = None
        if not isinstance(events, list) or not all(
            isinstance(e, dict) and "eventId" in e for e in events
        ):
            raise WebhookRejected("the body is not a JSON array of HubSpot events")
        return [
            WebhookEvent(str(e["eventId"]), str(e.get("subscriptionType", "unknown")), e)
            for e in events
        ]


def signature_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + URI + body + timestamp))."""
    for encoded, char in _URI_DECODES.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    source = method.upper().encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


@dataclass
class _Api:
    ctx: CallContext
    origin: str
    access_token: str
    classify: Classifier

    @classmethod
    async def open(cls, ctx: CallContext) -> _Api:
        integration = ctx.integration
        if integration.auth_type == "oauth2":
            access_token = (await ctx.token()).access_token
        else:
            access_token = integration.auth_config["access_token"]
        origin = _origin(integration.endpoint_url) if integration.endpoint_url else API_URL
        return cls(ctx, origin, access_token, _classifier(integration.auth_type))

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        response = await send(
            self.ctx, method, self.origin + path, classify=self.classify, headers=headers, **kwargs
        )
        body = json_body(response)
        if not isinstance(body, dict):
            raise ProviderError(
                "hubspot answered without a JSON object",
                code="unexpected_response",
                outcome="terminal",
            )
        return body


async def _get_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    contact = await api.json(
        "GET",
        f"/crm/v3/objects/contacts/{args['customer_id']}",
        params={"properties": ",".join(CONTACT_PROPERTIES)},
    )
    return _customer(contact)


async def _search_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    limit = args.get("limit", 20)
    filters = [
        {"propertyName": key, "operator": "EQ", "value": args[key]}
        for key in ("phone", "email")
        if key in args
    ]
    query: dict[str, Any] = {
        "filterGroups": [{"filters": filters}],
        "properties": list(CONTACT_PROPERTIES),
    }
    found: list[dict[str, Any]] = []
    total = 0
    after: str | None = None
    while True:
        query["limit"] = limit - len(found)
        if after is not None:
            query["after"] = after
        page = await api.json("POST", "/crm/v3/objects/contacts/search", json=query)
        if after is None:
            total = page.get("total", 0)
        found.extend(_customer(c) for c in page.get("results", []) if isinstance(c, dict))
        after = _next_after(page)
        if len(found) >= limit or after is None:
            break
    return {"customers": found[:limit], "total": total}


async def _log_interaction(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    seconds = args["duration_seconds"]
    facts = f"{args['direction'].capitalize()} call, {seconds} s"
    if args.get("recording_id"):
        facts += f", recording {args['recording_id']}"
    body = "".join(
        f"<p>{html.escape(text)}</p>" for text in (args["subject"], args["description"], facts)
    )
    note = {
        "properties": {"hs_timestamp": str(int(time.time() * 1000)), "hs_note_body": body},
        "associations": [_association(args["customer_id"], NOTE_TO_CONTACT)],
    }
    created = await api.json("POST", "/crm/v3/objects/notes", json=note)
    return {"id": created.get("id"), "provider_data": created}


async def _update_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    record_id = args["customer_id"]
    await api.json(
        "PATCH", f"/crm/v3/objects/contacts/{record_id}", json={"properties": args["fields"]}
    )
    return {"id": record_id, "updated": True}


async def _create_case(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    settings = api.ctx.integration
    ticket = {
        "properties": {
            "subject": args["subject"],
            "content": args["description"],
            "hs_pipeline": str(settings.setting("ticket_pipeline", "0")),
            "hs_pipeline_stage": str(settings.setting("ticket_pipeline_stage", "1")),
            "hs_ticket_priority": PRIORITIES[args.get("priority", "medium")],
        },
        "associations": [_association(args["customer_id"], TICKET_TO_CONTACT)],
    }
    created = await api.json("POST", "/crm/v3/objects/tickets", json=ticket)
    return {"id": created.get("id"), "provider_data": created}


_CALLS: dict[str, Callable[[_Api, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "get_customer_info": _get_customer,
    "search_customer": _search_customer,
    "log_interaction": _log_interaction,
    "update_customer": _update_customer,
    "create_case": _create_case,
}


def _customer(contact: dict[str, Any]) -> dict[str, Any]:
    props = contact.get("properties") or {}
    name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p) or None
    phone = props.get("phone") or props.get("mobilephone")
    return customer(str(contact.get("id")), name, props.get("email"), phone, contact)


def _next_after(page: dict[str, Any]) -> str | None:
    paging = page.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    after = following.get("after") if isinstance(following, dict) else None
    return str(after) if after else None


def _association(contact_id: str, type_id: int) -> dict[str, Any]:
    return {
        "to": {"id": contact_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def _classifier(auth_type: str) -> Classifier:
    def classify(response: httpx2.Response) -> ProviderError:
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        code = body.get("errorType") or body.get("category")
        message = body.get("message")
        error = by_status(
            response,
            code=code if isinstance(code, str) else None,
            message=message if isinstance(message, str) else None,
        )
        if response.status_code == 429:
            policy = body.get("policyName")
            error.outcome = "throttled"
            error.message += f" (policy {policy})"
            if policy == "DAILY":
                error.retry_after = _until_midnight_utc()
            elif error.retry_after is None:
                error.retry_after = 10.0 if policy == "TEN_SECONDLY_ROLLING" else 1.0
        elif response.status_code == 401 and auth_type != "oauth2":
            error.outcome = "reauth"
        return error

    return classify


def _until_midnight_utc() -> float:
    """HubSpot's daily limit resets at midnight in the portal's time zone, which we do not
    know: midnight UTC is the stand-in."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - now).total_seconds())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
