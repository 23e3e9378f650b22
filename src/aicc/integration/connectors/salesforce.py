"""Salesforce CRM over the REST API: Contacts, call Tasks and Cases.

Salesforce access tokens say nothing about their lifetime: a refused session
(``401 INVALID_SESSION_ID``) is the signal to refresh. The API lives at the token's
``instance_url``; without one, at the origin of ``endpoint_url`` (any path on it is ignored).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2
import jwt

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    ProviderError,
    Token,
    customer,
)
from aicc.integration.connectors.crm import CrmWording, crm_methods
from aicc.integration.connectors.http import by_status, json_body, oauth_token, send

API_VERSION = "v62.0"
LOGIN_URL = "https://login.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIMIT_WAIT = 300.0
"""``REQUEST_LIMIT_EXCEEDED`` is a rolling 24-hour org limit: retrying in seconds is useless."""
CONTACT_FIELDS = ("Id", "Name", "Email", "Phone", "MobilePhone", "AccountId")
PRIORITIES = {"low": "Low", "medium": "Medium", "high": "High"}

_RECORD_ID = re.compile(r"[A-Za-z0-9]{1,18}")
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _id_problem(record_id: str) -> str | None:
    if _RECORD_ID.fullmatch(record_id):
        return None
    return "must be a Salesforce Id (up to 18 letters and digits)"


CRM_METHODS = crm_methods(
    _id_problem,
    CrmWording(
        customer_id="Contact Id",
        read="Read a Contact",
        search="Contacts whose Phone and/or Email equal the values given",
        log="Log a completed call as a Task",
        fields="Contact field names and values",
        case="Open a Case for the Contact (priority defaults to medium)",
    ),
)


class SalesforceConnector(Connector):
    provider = "salesforce"
    aliases = ("sfdc",)
    type = IntegrationType.CRM
    hosts = ("salesforce.com", "force.com")
    keywords = ("sfdc",)
    auth_types = ("oauth2",)
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {"oauth2": ("client_id",)}
    secret_keys = frozenset({"client_secret", "refresh_token", "private_key"})
    methods = CRM_METHODS

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        jwt_flow = auth_config.get("private_key") or auth_config.get("username")
        if jwt_flow and not (auth_config.get("private_key") and auth_config.get("username")):
            problems.append("auth_config.private_key and auth_config.username go together")
        elif not jwt_flow and not auth_config.get("client_secret"):
            problems.append(
                "auth_config.client_secret is required (or private_key and username for the"
                " JWT bearer flow)"
            )
        return problems

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:
        config = ctx.integration.auth_config
        token_url = config.get("token_url") or _origin(ctx.integration.endpoint_url) + (
            "/services/oauth2/token"
        )
        refresh = (current.refresh_token if current else None) or config.get("refresh_token")
        form: dict[str, str]
        if config.get("private_key"):
            form = {"grant_type": JWT_GRANT, "assertion": _assertion(ctx)}
            refresh = None
        elif refresh:
            form = {
                "grant_type": "refresh_token",
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
                "refresh_token": refresh,
            }
        else:
            form = {
                "grant_type": "client_credentials",
                "client_id": config["client_id"],
                "client_secret": config["client_secret"],
            }
        return await oauth_token(
            ctx, token_url, form, keep=("instance_url",), refresh_token=refresh
        )

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        handler = _CALLS.get(method)
        if handler is None:
            raise ValidationFailed(f"salesforce has no method {method!r}", code="unknown_method")
        return await handler(await _Api.open(ctx), args)

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        api = await _Api.open(ctx)
        limits = await api.json("GET", "/limits")
        return {"api_version": api.version, "daily_api_requests": limits.get("DailyApiRequests")}


@dataclass
class _Api:
    ctx: CallContext
    origin: str
    version: str
    access_token: str

    @classmethod
    async def open(cls, ctx: CallContext) -> _Api:
        token = await ctx.token()
        instance = token.extra.get("instance_url")
        origin = _origin(
            instance if isinstance(instance, str) and instance else ctx.integration.endpoint_url
        )
        version = str(ctx.integration.setting("api_version", API_VERSION))
        version = version if version.startswith("v") else "v" + version
        return cls(ctx, origin, version, token.access_token)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """``path`` is relative to ``/services/data/{version}`` unless it starts there."""
        if not path.startswith("/services/data/"):
            path = f"/services/data/{self.version}{path}"
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        return await send(
            self.ctx, method, self.origin + path, classify=_classify, headers=headers, **kwargs
        )

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = json_body(await self.request(method, path, **kwargs))
        if not isinstance(body, dict):
            raise ProviderError(
                "salesforce answered without a JSON object",
                code="unexpected_response",
                outcome="terminal",
            )
        return body


async def _get_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    record_id = args["customer_id"]
    record = await api.json(
        "GET", f"/sobjects/Contact/{record_id}", params={"fields": ",".join(CONTACT_FIELDS)}
    )
    return _customer(record)


async def _search_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    limit = args.get("limit", 20)
    where = [
        f"{field} = {soql_literal(args[key])}"
        for key, field in (("phone", "Phone"), ("email", "Email"))
        if key in args
    ]
    fields = ", ".join(CONTACT_FIELDS)
    soql = f"SELECT {fields} FROM Contact WHERE {' AND '.join(where)}"  # noqa: S608 (escaped)
    page = await api.json("GET", "/query", params={"q": soql})
    total = page.get("totalSize", 0)
    found: list[dict[str, Any]] = []
    while True:
        found.extend(_customer(r) for r in page.get("records", []) if isinstance(r, dict))
        next_url = page.get("nextRecordsUrl")
        if len(found) >= limit or page.get("done", True) or not isinstance(next_url, str):
            break
        if not next_url.startswith("/services/data/"):
            raise ProviderError(
                f"unexpected nextRecordsUrl {next_url!r}",
                code="unexpected_response",
                outcome="terminal",
            )
        page = await api.json("GET", next_url)
    return {"customers": found[:limit], "total": total}


async def _log_interaction(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    description = args["description"]
    if args.get("recording_id"):
        description += f"\n\nRecording: {args['recording_id']}"
    task = {
        "Subject": args["subject"],
        "WhoId": args["customer_id"],
        "Status": "Completed",
        "TaskSubtype": "Call",
        "CallType": args["direction"].capitalize(),
        "CallDurationInSeconds": args["duration_seconds"],
        "Description": description,
        "ActivityDate": datetime.now(UTC).date().isoformat(),
    }
    created = await api.json("POST", "/sobjects/Task", json=task)
    return {"id": created.get("id"), "provider_data": created}


async def _update_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    record_id = args["customer_id"]
    await api.request("PATCH", f"/sobjects/Contact/{record_id}", json=args["fields"])
    return {"id": record_id, "updated": True}


async def _create_case(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    case = {
        "ContactId": args["customer_id"],
        "Subject": args["subject"],
        "Description": args["description"],
        "Priority": PRIORITIES[args.get("priority", "medium")],
        "Origin": "Phone",
    }
    created = await api.json("POST", "/sobjects/Case", json=case)
    return {"id": created.get("id"), "provider_data": created}


_CALLS: dict[str, Callable[[_Api, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "get_customer_info": _get_customer,
    "search_customer": _search_customer,
    "log_interaction": _log_interaction,
    "update_customer": _update_customer,
    "create_case": _create_case,
}


def soql_literal(value: str) -> str:
    """``value`` as a quoted SOQL string literal."""
    return "'" + "".join(_SOQL_ESCAPES.get(c, c) for c in value) + "'"


def _customer(record: dict[str, Any]) -> dict[str, Any]:
    return customer(
        str(record.get("Id")),
        record.get("Name"),
        record.get("Email"),
        record.get("Phone") or record.get("MobilePhone"),
        record,
    )


def _classify(response: httpx2.Response) -> ProviderError:
    body = json_body(response)
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code, message = first.get("errorCode"), first.get("message")
    error = by_status(
        response,
        code=code if isinstance(code, str) else None,
        message=message if isinstance(message, str) else None,
    )
    if code == "REQUEST_LIMIT_EXCEEDED":
        error.outcome = "throttled"
        error.retry_after = max(error.retry_after or 0.0, LIMIT_WAIT)
    return error


def _assertion(ctx: CallContext) -> str:
    config = ctx.integration.auth_config
    claims = {
        "iss": config["client_id"],
        "sub": config["username"],
        "aud": config.get("audience") or LOGIN_URL,
        "exp": int(time.time()) + 180,
    }
    try:
        return jwt.encode(claims, config["private_key"], algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ProviderError(
            f"auth_config.private_key cannot sign the JWT assertion: {type(exc).__name__}",
            code="invalid_private_key",
            outcome="reauth",
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
