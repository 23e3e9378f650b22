"""Microsoft Dynamics 365 / Dataverse over the OData Web API: contacts, phone calls and
cases (incidents), with an Entra ID client-credentials token."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2

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

API_VERSION = "v9.2"
LOGIN_URL = "https://login.microsoftonline.com"
CONTACT_FIELDS = ("contactid", "fullname", "emailaddress1", "telephone1", "mobilephone")
PRIORITIES = {"high": 1, "medium": 2, "low": 3}
CASE_ORIGIN_PHONE = 1
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)$")


def _id_problem(record_id: str) -> str | None:
    try:
        uuid.UUID(record_id)
    except ValueError:
        return "must be a GUID"
    return None


CRM_METHODS = crm_methods(
    _id_problem,
    CrmWording(
        customer_id="contactid (a GUID)",
        read="Read a contact",
        search="Contacts whose telephone1 and/or emailaddress1 equal the values given",
        log="Log a phone call activity regarding the contact",
        fields="Contact column names and values",
        case="Open a case (incident) for the contact (priority defaults to medium)",
    ),
)


class DynamicsConnector(Connector):
    provider = "dynamics"
    aliases = ("dynamics365", "dataverse", "d365")
    type = IntegrationType.CRM
    hosts = ("dynamics.com", "crm.dynamics.com")
    keywords = ("d365", "dataverse", "msdynamics")
    auth_types = ("oauth2",)
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "oauth2": ("client_id", "client_secret")
    }
    secret_keys = frozenset({"client_secret"})
    methods = CRM_METHODS

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        if not auth_config.get("token_url") and not auth_config.get("tenant_id"):
            problems.append("auth_config.token_url (or tenant_id) is required")
        return problems

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:  # noqa: ARG002
        config = ctx.integration.auth_config
        token_url = config.get("token_url") or (
            f"{LOGIN_URL}/{config['tenant_id']}/oauth2/v2.0/token"
        )
        form = {
            "grant_type": "client_credentials",
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
            "scope": config.get("scope") or _origin(ctx.integration.endpoint_url) + "/.default",
        }
        return await oauth_token(ctx, token_url, form)

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        handler = _CALLS.get(method)
        if handler is None:
            raise ValidationFailed(f"dynamics has no method {method!r}", code="unknown_method")
        return await handler(await _Api.open(ctx), args)

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        api = await _Api.open(ctx)
        who = await api.json("GET", api.base + "/WhoAmI")
        return {k: who.get(k) for k in ("UserId", "BusinessUnitId", "OrganizationId")}


@dataclass
class _Api:
    ctx: CallContext
    base: str
    access_token: str

    @classmethod
    async def open(cls, ctx: CallContext) -> _Api:
        token = await ctx.token()
        version = str(ctx.integration.setting("api_version", API_VERSION))
        version = version if version.startswith("v") else "v" + version
        base = f"{_origin(ctx.integration.endpoint_url)}/api/data/{version}"
        return cls(ctx, base, token.access_token)

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx2.Response:
        sent = {
            "Authorization": f"Bearer {self.access_token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            **(headers or {}),
        }
        return await send(self.ctx, method, url, classify=_classify, headers=sent, **kwargs)

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        body = json_body(await self.request(method, url, **kwargs))
        if not isinstance(body, dict):
            raise ProviderError(
                "dataverse answered without a JSON object",
                code="unexpected_response",
                outcome="terminal",
            )
        return body

    async def create(self, entity_set: str, record: dict[str, Any]) -> str:
        """POST a record; its id is in the ``OData-EntityId`` header of the 204."""
        response = await self.request("POST", f"{self.base}/{entity_set}", json=record)
        match = _ENTITY_ID.search(response.headers.get("odata-entityid", ""))
        if match is None:
            raise ProviderError(
                "dataverse created the record without an OData-EntityId header",
                code="unexpected_response",
                outcome="terminal",
                status=response.status_code,
            )
        return match.group(1)


async def _get_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    contact = await api.json(
        "GET",
        f"{api.base}/contacts({_guid(args['customer_id'])})",
        params={"$select": ",".join(CONTACT_FIELDS)},
    )
    return _customer(contact)


async def _search_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    """Paged with ``Prefer: odata.maxpagesize`` (Dataverse returns no nextLink with $top)."""
    limit = args.get("limit", 20)
    where = [
        f"{column} eq {odata_literal(args[key])}"
        for key, column in (("phone", "telephone1"), ("email", "emailaddress1"))
        if key in args
    ]
    params = {"$select": ",".join(CONTACT_FIELDS), "$filter": " and ".join(where), "$count": "true"}
    prefer = {"Prefer": f"odata.maxpagesize={limit}"}
    page = await api.json("GET", f"{api.base}/contacts", params=params, headers=prefer)
    total = page.get("@odata.count")
    found: list[dict[str, Any]] = []
    while True:
        found.extend(_customer(c) for c in page.get("value", []) if isinstance(c, dict))
        next_link = page.get("@odata.nextLink")
        if len(found) >= limit or not isinstance(next_link, str):
            break
        if not next_link.startswith(api.base + "/"):
            raise ProviderError(
                f"unexpected @odata.nextLink {next_link!r}",
                code="unexpected_response",
                outcome="terminal",
            )
        page = await api.json("GET", next_link, headers=prefer)
    return {"customers": found[:limit], "total": total if isinstance(total, int) else len(found)}


async def _log_interaction(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    description = args["description"]
    if args.get("recording_id"):
        description += f"\n\nRecording: {args['recording_id']}"
    call = {
        "subject": args["subject"],
        "description": description,
        "directioncode": args["direction"] == "outbound",
        "actualdurationminutes": math.ceil(args["duration_seconds"] / 60),
        "regardingobjectid_contact@odata.bind": f"/contacts({_guid(args['customer_id'])})",
    }
    activity_id = await api.create("phonecalls", call)
    return {"id": activity_id, "provider_data": {"activityid": activity_id, **call}}


async def _update_customer(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    contact_id = _guid(args["customer_id"])
    await api.request(
        "PATCH",
        f"{api.base}/contacts({contact_id})",
        json=args["fields"],
        headers={"If-Match": "*"},
    )
    return {"id": contact_id, "updated": True}


async def _create_case(api: _Api, args: dict[str, Any]) -> dict[str, Any]:
    incident = {
        "title": args["subject"],
        "description": args["description"],
        "prioritycode": PRIORITIES[args.get("priority", "medium")],
        "caseorigincode": CASE_ORIGIN_PHONE,
        "customerid_contact@odata.bind": f"/contacts({_guid(args['customer_id'])})",
    }
    incident_id = await api.create("incidents", incident)
    return {"id": incident_id, "provider_data": {"incidentid": incident_id, **incident}}


_CALLS: dict[str, Callable[[_Api, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "get_customer_info": _get_customer,
    "search_customer": _search_customer,
    "log_interaction": _log_interaction,
    "update_customer": _update_customer,
    "create_case": _create_case,
}


def odata_literal(value: str) -> str:
    """``value`` as a quoted OData string literal (a quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _customer(contact: dict[str, Any]) -> dict[str, Any]:
    return customer(
        str(contact.get("contactid")),
        contact.get("fullname"),
        contact.get("emailaddress1"),
        contact.get("telephone1") or contact.get("mobilephone"),
        contact,
    )


def _classify(response: httpx2.Response) -> ProviderError:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code, message = error.get("code"), error.get("message")
    return by_status(
        response,
        code=code if isinstance(code, str) and code else None,
        message=message if isinstance(message, str) and message else None,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _guid(value: str) -> str:
    return str(uuid.UUID(value))
