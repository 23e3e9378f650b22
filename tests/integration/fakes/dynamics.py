"""A Dataverse (Dynamics 365) stand-in with its Entra ID token endpoint: contacts (by key,
``$filter`` with ``eq``/``and``, ``$select``, ``$count``, ``odata.maxpagesize`` paging),
phone calls and incidents created with a 204 and ``OData-EntityId``, ``WhoAmI``, and the
service-protection 429 with ``Retry-After``.

Stricter than Dataverse in one way: a request without the OData version headers is a 400."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider

TENANT = "8d3f1c2e-1111-4c1a-9d5e-000000000001"
CLIENT_ID = "5b0f7c2e-2222-4a77-8f0e-000000000002"
CLIENT_SECRET = "dv~client~secret"

ADA = "6a1f0c3e-0001-4a5e-9a3b-000000000001"
OBRIEN = "6a1f0c3e-0002-4a5e-9a3b-000000000002"
SHARED_PHONE = "+14155550199"
COLUMNS = frozenset(
    {
        "contactid",
        "fullname",
        "firstname",
        "lastname",
        "emailaddress1",
        "telephone1",
        "mobilephone",
        "jobtitle",
    }
)
WRITABLE = COLUMNS - {"contactid", "fullname"}
PHONECALL_FIELDS = frozenset(
    {
        "subject",
        "description",
        "directioncode",
        "actualdurationminutes",
        "regardingobjectid_contact@odata.bind",
        "phonenumber",
    }
)
INCIDENT_FIELDS = frozenset(
    {"title", "description", "prioritycode", "caseorigincode", "customerid_contact@odata.bind"}
)

_SEGMENT = re.compile(r"([A-Za-z]+)(?:\(([^)]*)\))?")
_CONDITION = re.compile(r"\s*([a-z0-9_]+)\s+eq\s+'((?:[^']|'')*)'\s*")
_BIND = re.compile(r"/contacts\(([0-9a-f-]{36})\)")
_PAGE = re.compile(r'<cookie pagenumber="(\d+)" />')


def _contact(
    id_: str, first: str, last: str, email: str | None, phone: str | None
) -> dict[str, Any]:
    return {
        "contactid": id_,
        "fullname": f"{first} {last}",
        "firstname": first,
        "lastname": last,
        "emailaddress1": email,
        "telephone1": phone,
        "mobilephone": None,
        "jobtitle": None,
    }


def failure(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _missing(id_: str) -> JSONResponse:
    return failure(404, "0x80040217", f"contact With Id = {id_} Does Not Exist")


class DynamicsFake(FakeProvider):
    """``page_size`` caps each page whatever ``odata.maxpagesize`` asks (Dataverse: 5000)."""

    def __init__(self, *, page_size: int = 5000) -> None:
        super().__init__("Dataverse stand-in")
        self.page_size = page_size
        self.tokens: set[str] = set()
        self.refusal: tuple[int, str, str] | None = None
        self.throttles: list[int] = []
        self.contacts: dict[str, dict[str, Any]] = {
            ADA: _contact(ADA, "Ada", "Lovelace", "ada@example.com", "+14155550101"),
            OBRIEN: _contact(OBRIEN, "Brian", "O'Brien", "o'brien@example.com", "+14155550102"),
        }
        for n in range(3, 6):
            id_ = f"6a1f0c3e-000{n}-4a5e-9a3b-00000000000{n}"
            self.contacts[id_] = _contact(id_, "Shared", f"Line {n}", None, SHARED_PHONE)
        self.phonecalls: dict[str, dict[str, Any]] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.app.post("/{tenant}/oauth2/v2.0/token")(self._token)
        self.app.api_route("/api/data/{version}/{resource}", methods=["GET", "POST", "PATCH"])(
            self._api
        )

    @property
    def token_url(self) -> str:
        return f"{self.url}/{TENANT}/oauth2/v2.0/token"

    def expire_tokens(self) -> None:
        """Every token expires: the next API call gets Dataverse's bare 401."""
        self.tokens.clear()

    def refuse_tokens(
        self,
        error: str = "invalid_grant",
        description: str = "AADSTS700082: The refresh token has expired due to inactivity.",
        status: int = 400,
    ) -> None:
        self.refusal = (status, error, description)

    def throttle(self, retry_after: int = 30, times: int = 1) -> None:
        self.throttles.extend([retry_after] * times)

    async def _token(self, request: Request, tenant: str) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if tenant != TENANT:
            return _aad_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if self.refusal:
            return _aad_error(*self.refusal)
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _aad_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        if form.get("scope") != f"{self.url}/.default":
            return _aad_error(
                400,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid.",
            )
        access = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(40)
        self.tokens.add(access)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": access,
            }
        )

    async def _api(self, request: Request, version: str, resource: str) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            challenge = f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize"
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        if self.throttles:
            wait = self.throttles.pop(0)
            return failure(
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                **{"Retry-After": str(wait)},
            )
        if (
            request.headers.get("odata-version") != "4.0"
            or request.headers.get("odata-maxversion") != "4.0"
        ):
            return failure(400, "0x80048d19", "OData-Version and OData-MaxVersion must be 4.0")
        match = _SEGMENT.fullmatch(resource)
        if not re.fullmatch(r"v9\.[0-2]", version) or match is None:
            return failure(404, "0x8006088a", f"Resource not found for the segment '{resource}'.")
        entity, key = match.group(1), match.group(2)
        method = request.method
        metadata = f"{self.url}/api/data/{version}/$metadata"
        if entity == "WhoAmI" and method == "GET" and key is None:
            return _ok(
                {
                    "@odata.context": f"{metadata}#Microsoft.Dynamics.CRM.WhoAmIResponse",
                    "BusinessUnitId": "b1b1b1b1-0000-4000-8000-000000000001",
                    "UserId": "a1a1a1a1-0000-4000-8000-000000000001",
                    "OrganizationId": "c1c1c1c1-0000-4000-8000-000000000001",
                }
            )
        if entity == "contacts" and key is not None and method in ("GET", "PATCH"):
            try:
                key = str(uuid.UUID(key))
            except ValueError:
                return failure(400, "0x80060888", f"Bad Request - Error in query syntax: {key}")
            if method == "GET":
                return self._get_contact(request, version, key)
            return await self._patch_contact(request, key)
        if entity == "contacts" and key is None and method == "GET":
            return self._list_contacts(request, version)
        if entity in ("phonecalls", "incidents") and key is None and method == "POST":
            return await self._create(request, version, entity)
        return failure(404, "0x8006088a", f"Resource not found for the segment '{resource}'.")

    def _select(self, request: Request) -> list[str] | Response:
        select = request.query_params.get("$select")
        columns = select.split(",") if select else sorted(COLUMNS)
        if unknown := [c for c in columns if c not in COLUMNS]:
            return failure(
                400,
                "0x80060888",
                f"Could not find a property named '{unknown[0]}' on type "
                "'Microsoft.Dynamics.CRM.contact'.",
            )
        return columns

    def _row(self, contact: dict[str, Any], columns: list[str]) -> dict[str, Any]:
        return {
            "@odata.etag": 'W/"4711"',
            **{c: contact[c] for c in columns},
            "contactid": contact["contactid"],
        }

    def _get_contact(self, request: Request, version: str, key: str) -> Response:
        columns = self._select(request)
        if isinstance(columns, Response):
            return columns
        contact = self.contacts.get(key)
        if contact is None:
            return _missing(key)
        context = f"{self.url}/api/data/{version}/$metadata#contacts({','.join(columns)})/$entity"
        return _ok({"@odata.context": context, **self._row(contact, columns)})

    def _list_contacts(self, request: Request, version: str) -> Response:
        columns = self._select(request)
        if isinstance(columns, Response):
            return columns
        params = request.query_params
        conditions: dict[str, str] = {}
        text = params.get("$filter", "")
        for part in text.split(" and ") if text else []:
            condition = _CONDITION.fullmatch(part)
            if condition is None or condition.group(1) not in COLUMNS:
                return failure(400, "0x80060888", f"Syntax error in $filter: {text!r}")
            conditions[condition.group(1)] = condition.group(2).replace("''", "'")
        rows = [
            self._row(c, columns)
            for c in self.contacts.values()
            if all(c.get(k) == v for k, v in conditions.items())
        ]
        if "$top" in params:
            rows = rows[: int(params["$top"])]
        prefer = request.headers.get("prefer", "")
        asked = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        size = min(self.page_size, int(asked.group(1)) if asked else 5000)
        page_number = 1
        if cookie := _PAGE.fullmatch(params.get("$skiptoken", "")):
            page_number = int(cookie.group(1))
        start = (page_number - 1) * size
        body: dict[str, Any] = {
            "@odata.context": f"{self.url}/api/data/{version}/$metadata#contacts"
            f"({','.join(columns)})"
        }
        if params.get("$count") == "true":
            body["@odata.count"] = len(rows)
        body["value"] = rows[start : start + size]
        if "$top" not in params and start + size < len(rows):
            following = {k: v for k, v in params.items() if k != "$skiptoken"}
            following["$skiptoken"] = f'<cookie pagenumber="{page_number + 1}" />'
            body["@odata.nextLink"] = (
                f"{self.url}/api/data/{version}/contacts?{urlencode(following, quote_via=quote)}"
            )
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if asked else {}
        return _ok(body, headers=headers)

    async def _patch_contact(self, request: Request, key: str) -> Response:
        changes = await request.json()
        if bad := [k for k in changes if k not in WRITABLE]:
            return failure(
                400,
                "0x80060888",
                f"The property '{bad[0]}' does not exist on type 'Microsoft.Dynamics.CRM.contact'.",
            )
        contact = self.contacts.get(key)
        if contact is None:
            if request.headers.get("if-match") == "*":
                return _missing(key)
            contact = self.contacts[key] = _contact(key, "", "", None, None)
        contact.update(changes)
        contact["fullname"] = f"{contact['firstname']} {contact['lastname']}".strip()
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    async def _create(self, request: Request, version: str, entity: str) -> Response:
        record = await request.json()
        allowed = PHONECALL_FIELDS if entity == "phonecalls" else INCIDENT_FIELDS
        if bad := sorted(set(record) - allowed):
            return failure(
                400,
                "0x80060888",
                f"The property '{bad[0]}' does not exist on type "
                f"'Microsoft.Dynamics.CRM.{entity[:-1]}'.",
            )
        bind_name = (
            "regardingobjectid_contact@odata.bind"
            if entity == "phonecalls"
            else "customerid_contact@odata.bind"
        )
        bind = _BIND.fullmatch(str(record.get(bind_name, "")))
        if bind is None:
            return failure(400, "0x80040203", f"{bind_name} must be /contacts(<guid>)")
        if bind.group(1) not in self.contacts:
            return _missing(bind.group(1))
        if entity == "phonecalls" and not isinstance(record.get("directioncode"), bool):
            return failure(400, "0x80048d19", "directioncode must be a boolean")
        if entity == "incidents" and record.get("prioritycode") not in (1, 2, 3):
            return failure(400, "0x80048d19", "prioritycode must be 1, 2 or 3")
        if entity == "incidents" and not record.get("title"):
            return failure(400, "0x80040203", "title is required")
        id_ = str(uuid.uuid4())
        (self.phonecalls if entity == "phonecalls" else self.incidents)[id_] = record
        return Response(
            status_code=204,
            headers={
                "OData-Version": "4.0",
                "OData-EntityId": f"{self.url}/api/data/{version}/{entity}({id_})",
            },
        )


def _ok(body: Any, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, headers={"OData-Version": "4.0", **(headers or {})})


def _aad_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": error,
            "error_description": description,
            "error_codes": _codes(description),
            "timestamp": "2026-01-05 09:00:00Z",
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status,
    )


def _codes(description: str) -> list[int]:
    return [int(code) for code in re.findall(r"AADSTS(\d+)", description)]
