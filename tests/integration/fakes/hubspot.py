"""A HubSpot stand-in: the OAuth v1 token endpoint, private-app tokens, v3 contacts (read,
search with EQ filters and ``after`` paging, update), notes and tickets with their contact
associations, the 429 ``SECONDLY``/``DAILY`` replies and ``X-HubSpot-RateLimit-*`` headers;
and the v3 webhook signature, for sending signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider

CLIENT_ID = "hs-client-id"
CLIENT_SECRET = "hs-client-secret"
REFRESH_TOKEN = "na1-hs-refresh-token"
PRIVATE_APP_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"

ADA = "101"
OBRIEN = "102"
SHARED_PHONE = "+14155550199"
PROPERTIES = frozenset(
    {
        "firstname",
        "lastname",
        "email",
        "phone",
        "mobilephone",
        "jobtitle",
        "company",
        "lifecyclestage",
    }
)
NOTE_TO_CONTACT = 202
TICKET_TO_CONTACT = 16
DAILY_LIMIT = 250_000
SECONDLY_LIMIT = 19


def signature_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The value HubSpot puts in ``X-HubSpot-Signature-v3``."""
    source = method.encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def signed_headers(
    url: str, body: bytes, *, secret: str = CLIENT_SECRET, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The headers of a webhook POST HubSpot signed."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def contact_events(*object_ids: int, first_event_id: int = 100) -> bytes:
    """A webhook body: one ``contact.propertyChange`` event per object id."""
    now = int(time.time() * 1000)
    return orjson.dumps(
        [
            {
                "eventId": first_event_id + n,
                "subscriptionId": 12345,
                "portalId": 62515,
                "appId": 54321,
                "occurredAt": now,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": object_id,
                "propertyName": "phone",
                "propertyValue": "+14155550123",
                "changeSource": "CRM",
            }
            for n, object_id in enumerate(object_ids)
        ]
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _contact(first: str, last: str, email: str | None, phone: str | None) -> dict[str, Any]:
    return {
        "firstname": first,
        "lastname": last,
        "email": email,
        "phone": phone,
        "mobilephone": None,
        "jobtitle": None,
        "company": None,
        "lifecyclestage": "lead",
    }


def failure(status: int, category: str, message: str, **headers: str) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    return JSONResponse(body, status, headers=headers)


class HubSpotFake(FakeProvider):
    """``page_size`` caps each search page (HubSpot's maximum is 200)."""

    def __init__(self, *, page_size: int = 200) -> None:
        super().__init__("HubSpot stand-in")
        self.page_size = page_size
        self.tokens: set[str] = set()
        self.expired: set[str] = set()
        self.private_tokens = {PRIVATE_APP_TOKEN}
        self.refusal: str | None = None
        self.throttles: list[str] = []
        self.daily_used = 0
        self.contacts: dict[str, dict[str, Any]] = {
            ADA: _contact("Ada", "Lovelace", "ada@example.com", "+14155550101"),
            OBRIEN: _contact("Brian", "O'Brien", "o'brien@example.com", "+14155550102"),
        }
        for n in range(103, 106):
            self.contacts[str(n)] = _contact("Shared", f"Line {n}", None, SHARED_PHONE)
        self.notes: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(9001)
        app = self.app
        app.post("/oauth/v1/token")(self._token)
        app.get("/crm/v3/objects/contacts")(self._list_contacts)
        app.post("/crm/v3/objects/contacts/search")(self._search)
        app.get("/crm/v3/objects/contacts/{record_id}")(self._get_contact)
        app.patch("/crm/v3/objects/contacts/{record_id}")(self._patch_contact)
        app.post("/crm/v3/objects/notes")(self._create_note)
        app.post("/crm/v3/objects/tickets")(self._create_ticket)

    def expire_tokens(self) -> None:
        """Every OAuth access token expires: the next API call gets 401 EXPIRED_AUTHENTICATION."""
        self.expired |= self.tokens
        self.tokens.clear()

    def refuse_tokens(self) -> None:
        """The refresh token is revoked: the token endpoint answers BAD_REFRESH_TOKEN."""
        self.refusal = "BAD_REFRESH_TOKEN"

    def throttle(self, policy: str = "SECONDLY", times: int = 1) -> None:
        self.throttles.extend([policy] * times)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _token_error("BAD_CLIENT_ID", "invalid_client", "missing or invalid client id")
        if form.get("grant_type") != "refresh_token":
            return _token_error("BAD_GRANT_TYPE", "unsupported_grant_type", "unsupported grant")
        if self.refusal or form.get("refresh_token") != REFRESH_TOKEN:
            return _token_error(
                "BAD_REFRESH_TOKEN", "invalid_grant", "missing or unknown refresh token"
            )
        access = "CJT" + secrets.token_urlsafe(48)
        self.tokens.add(access)
        return JSONResponse(
            {
                "token_type": "bearer",
                "refresh_token": REFRESH_TOKEN,
                "access_token": access,
                "expires_in": 1800,
            }
        )

    def _limits(self, secondly_remaining: int | None = None) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(DAILY_LIMIT),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, DAILY_LIMIT - self.daily_used)),
            "X-HubSpot-RateLimit-Secondly": str(SECONDLY_LIMIT),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(
                SECONDLY_LIMIT - 1 if secondly_remaining is None else secondly_remaining
            ),
        }

    def _guard(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens | self.private_tokens:
            if scheme == "Bearer" and token in self.expired:
                return failure(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    "The OAuth token used to make this call expired 1 minute(s) ago.",
                )
            return failure(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication"
                " and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if self.throttles:
            policy = self.throttles.pop(0)
            daily = policy == "DAILY"
            if daily:
                self.daily_used = DAILY_LIMIT
            body = {
                "status": "error",
                "errorType": "RATE_LIMIT",
                "policyName": policy,
                "message": f"You have reached your {policy.lower()} limit.",
                "correlationId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
            }
            return JSONResponse(body, 429, headers=self._limits(None if daily else 0))
        self.daily_used += 1
        return None

    def _ok(self, body: Any, status: int = 200) -> Response:
        return JSONResponse(body, status, headers=self._limits())

    def _object(self, id_: str, props: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        shown = {k: props.get(k) for k in wanted if k in PROPERTIES}
        shown["hs_object_id"] = id_
        shown["createdate"] = shown["lastmodifieddate"] = "2026-01-05T09:00:00.000Z"
        return {
            "id": id_,
            "properties": shown,
            "createdAt": "2026-01-05T09:00:00.000Z",
            "updatedAt": _now(),
            "archived": False,
        }

    async def _get_contact(self, request: Request, record_id: str) -> Response:
        if refused := self._guard(request):
            return refused
        props = self.contacts.get(record_id)
        if props is None:
            return failure(404, "OBJECT_NOT_FOUND", "resource not found")
        wanted = request.query_params.get("properties", "firstname,lastname,email").split(",")
        return self._ok(self._object(record_id, props, wanted))

    async def _list_contacts(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        limit = int(request.query_params.get("limit", "10"))
        results = [self._object(i, p, ["email"]) for i, p in self.contacts.items()][:limit]
        return self._ok({"results": results})

    async def _search(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        query = await request.json()
        groups = query.get("filterGroups") or []
        limit = query.get("limit", 10)
        if len(groups) > 5 or any(len(g.get("filters", [])) > 6 for g in groups):
            return failure(400, "VALIDATION_ERROR", "too many filterGroups or filters")
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            return failure(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        filters = [f for g in groups for f in g.get("filters", [])]
        if any(f.get("operator") != "EQ" for f in filters):
            return failure(400, "VALIDATION_ERROR", "the stand-in understands only EQ filters")

        def matches(props: dict[str, Any]) -> bool:
            return not groups or any(
                all(props.get(f["propertyName"]) == f["value"] for f in g.get("filters", []))
                for g in groups
            )

        found = [(i, p) for i, p in self.contacts.items() if matches(p)]
        start = int(query.get("after", "0"))
        end = start + min(limit, self.page_size)
        wanted = query.get("properties") or ["firstname", "lastname", "email"]
        page: dict[str, Any] = {
            "total": len(found),
            "results": [self._object(i, p, wanted) for i, p in found[start:end]],
        }
        if end < len(found):
            page["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
        return self._ok(page)

    async def _patch_contact(self, request: Request, record_id: str) -> Response:
        if refused := self._guard(request):
            return refused
        props = self.contacts.get(record_id)
        if props is None:
            return failure(404, "OBJECT_NOT_FOUND", "resource not found")
        changes = (await request.json()).get("properties") or {}
        if bad := [k for k in changes if k not in PROPERTIES]:
            return failure(
                400,
                "VALIDATION_ERROR",
                f'Property values were not valid: [{{"isValid":false,"message":"Property \\"'
                f'{bad[0]}\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"{bad[0]}"}}]',
            )
        props.update(changes)
        return self._ok(self._object(record_id, props, sorted(changes)))

    def _check_associations(self, body: dict[str, Any], type_id: int) -> str | None:
        for association in body.get("associations") or []:
            types = association.get("types") or []
            if association.get("to", {}).get("id") not in self.contacts:
                return "One or more associations are invalid: the contact does not exist"
            if types != [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]:
                return f"association type must be HUBSPOT_DEFINED {type_id}"
        return None

    async def _create_note(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        body = await request.json()
        props = body.get("properties") or {}
        if not props.get("hs_timestamp"):
            return failure(400, "VALIDATION_ERROR", "hs_timestamp is required")
        if problem := self._check_associations(body, NOTE_TO_CONTACT):
            return failure(400, "VALIDATION_ERROR", problem)
        id_ = str(next(self._ids))
        self.notes[id_] = body
        return self._ok(
            {
                "id": id_,
                "properties": props,
                "createdAt": _now(),
                "updatedAt": _now(),
                "archived": False,
            },
            201,
        )

    async def _create_ticket(self, request: Request) -> Response:
        if refused := self._guard(request):
            return refused
        body = await request.json()
        props = body.get("properties") or {}
        if props.get("hs_pipeline") != "0" or props.get("hs_pipeline_stage") not in ("1", "2"):
            return failure(400, "VALIDATION_ERROR", "hs_pipeline / hs_pipeline_stage invalid")
        if props.get("hs_ticket_priority") not in (None, "LOW", "MEDIUM", "HIGH", "URGENT"):
            return failure(400, "VALIDATION_ERROR", "hs_ticket_priority is not a valid option")
        if problem := self._check_associations(body, TICKET_TO_CONTACT):
            return failure(400, "VALIDATION_ERROR", problem)
        id_ = str(next(self._ids))
        self.tickets[id_] = body
        return self._ok(
            {
                "id": id_,
                "properties": props,
                "createdAt": _now(),
                "updatedAt": _now(),
                "archived": False,
            },
            201,
        )


def _token_error(status: str, error: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "status": status,
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "error": error,
            "error_description": message,
        },
        400,
    )
