"""A Salesforce stand-in: the OAuth token endpoint (client credentials, refresh token, JWT
bearer), Contacts, a small SOQL grammar with ``nextRecordsUrl`` paging, Tasks, Cases and
``/limits``, answering errors the way Salesforce does (a JSON array of ``errorCode``s)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from tests.integration.fakes.common import FakeProvider

CLIENT_ID = "3MVG9-sf-client-id"
CLIENT_SECRET = "sf-client-secret"
REFRESH_TOKEN = "5Aep861-sf-refresh"
USERNAME = "integration@acme.example"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")

ADA = "003000000000001AAA"
OBRIEN = "003000000000002AAA"
SHARED_PHONE = "+14155550199"
CONTACT_COLUMNS = (
    "Id",
    "Name",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "MobilePhone",
    "AccountId",
    "Title",
)
WRITABLE = frozenset(CONTACT_COLUMNS) - {"Id", "Name"}
TASK_FIELDS = frozenset(
    {
        "Subject",
        "WhoId",
        "WhatId",
        "Status",
        "TaskSubtype",
        "CallType",
        "CallDurationInSeconds",
        "Description",
        "ActivityDate",
        "Priority",
        "CallObject",
        "OwnerId",
    }
)
CASE_FIELDS = frozenset(
    {
        "ContactId",
        "AccountId",
        "Subject",
        "Description",
        "Priority",
        "Origin",
        "Status",
        "Type",
        "Reason",
    }
)

_VERSION = re.compile(r"v\d{2}\.\d")
_TOKEN = re.compile(r"\s*('(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_]*|\d+|,|=)")
_UNESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def rsa_key_pair() -> tuple[str, str]:
    """A fresh (private, public) PEM pair for the JWT bearer flow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _contact(
    id_: str, first: str, last: str, email: str | None, phone: str | None
) -> dict[str, Any]:
    return {
        "Id": id_,
        "Name": f"{first} {last}",
        "FirstName": first,
        "LastName": last,
        "Email": email,
        "Phone": phone,
        "MobilePhone": None,
        "AccountId": "001000000000001AAA",
        "Title": None,
    }


def errors(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status, headers=headers)


class SalesforceFake(FakeProvider):
    """``page_size`` is the query batch size (Salesforce's is 2000; smaller exercises paging)."""

    def __init__(self, *, page_size: int = 2000, public_key: str | None = None) -> None:
        super().__init__("Salesforce stand-in")
        self.page_size = page_size
        self.public_key = public_key
        self.tokens: set[str] = set()
        self.refusal: str | None = None
        self.limit_exceeded = False
        self.api_max = 15000
        self.api_usage = 0
        self.contacts: dict[str, dict[str, Any]] = {
            ADA: _contact(ADA, "Ada", "Lovelace", "ada@example.com", "+14155550101"),
            OBRIEN: _contact(OBRIEN, "Brian", "O'Brien", "o'brien@example.com", "+14155550102"),
        }
        for n in range(3, 6):
            id_ = f"00300000000000{n}AAA"
            self.contacts[id_] = _contact(id_, "Shared", f"Line {n}", None, SHARED_PHONE)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._routes()

    def expire_tokens(self) -> None:
        """Every issued session ends: the next API call gets 401 INVALID_SESSION_ID."""
        self.tokens.clear()

    def refuse_tokens(self, error: str = "invalid_grant") -> None:
        self.refusal = error

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):012d}AAA"

    def _routes(self) -> None:
        app = self.app
        app.post("/services/oauth2/token")(self._token)
        app.get("/services/data/{version}/sobjects/Contact/{record_id}")(self._get_contact)
        app.patch("/services/data/{version}/sobjects/Contact/{record_id}")(self._patch_contact)
        app.post("/services/data/{version}/sobjects/Task")(self._create_task)
        app.post("/services/data/{version}/sobjects/Case")(self._create_case)
        app.get("/services/data/{version}/query")(self._query)
        app.get("/services/data/{version}/query/{locator}")(self._query_more)
        app.get("/services/data/{version}/limits")(self._limits)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if self.refusal:
            return JSONResponse(
                {"error": self.refusal, "error_description": "expired access/refresh token"}, 400
            )
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            refused = self._check_assertion(form.get("assertion", ""))
            if refused:
                return JSONResponse({"error": "invalid_grant", "error_description": refused}, 400)
        elif grant in ("client_credentials", "refresh_token"):
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return JSONResponse(
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                    400,
                )
            if grant == "refresh_token" and form.get("refresh_token") != REFRESH_TOKEN:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "expired access/refresh token"},
                    400,
                )
        else:
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        access = "00D000000000001!" + secrets.token_urlsafe(24)
        self.tokens.add(access)
        issued = str(int(time.time() * 1000))
        identity = f"{self.url}/id/00D000000000001AAA/005000000000001AAA"
        signature = hmac.new(CLIENT_SECRET.encode(), (identity + issued).encode(), hashlib.sha256)
        return JSONResponse(
            {
                "access_token": access,
                "instance_url": self.url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": base64.b64encode(signature.digest()).decode(),
                "scope": "api",
            }
        )

    def _check_assertion(self, assertion: str) -> str | None:
        if self.public_key is None:
            return "JWT bearer is not configured"
        try:
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                audience=[*AUDIENCES, self.url],
                issuer=CLIENT_ID,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return f"invalid assertion: {exc}"
        if claims["sub"] != USERNAME:
            return "user hasn't approved this consumer"
        if claims["exp"] > time.time() + 300:
            return "invalid assertion: expiration too far in the future"
        return None

    def _guard(self, request: Request, version: str) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme not in ("Bearer", "OAuth") or token not in self.tokens:
            return errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.limit_exceeded:
            return errors(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", **self._limit_info()
            )
        if not _VERSION.fullmatch(version):
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        self.api_usage += 1
        return None

    def _limit_info(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.api_max}"}

    def _ok(self, body: Any, status: int = 200) -> Response:
        if body is None:
            return Response(status_code=status, headers=self._limit_info())
        return JSONResponse(body, status, headers=self._limit_info())

    def _record(self, record: dict[str, Any], version: str) -> dict[str, Any]:
        url = f"/services/data/{version}/sobjects/Contact/{record['Id']}"
        return {"attributes": {"type": "Contact", "url": url}, **record}

    async def _get_contact(self, request: Request, version: str, record_id: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        record = self.contacts.get(record_id)
        if record is None:
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        fields = request.query_params.get("fields", ",".join(CONTACT_COLUMNS)).split(",")
        if unknown := [f for f in fields if f not in CONTACT_COLUMNS]:
            return errors(
                400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Contact'"
            )
        return self._ok(self._record({f: record[f] for f in ["Id", *fields]}, version))

    async def _patch_contact(self, request: Request, version: str, record_id: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        record = self.contacts.get(record_id)
        if record is None:
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        changes = await request.json()
        if bad := [f for f in changes if f not in WRITABLE]:
            code = (
                "INVALID_FIELD_FOR_INSERT_UPDATE" if bad[0] in CONTACT_COLUMNS else "INVALID_FIELD"
            )
            return errors(400, code, f"Unable to create/update fields: {bad[0]}.")
        record.update(changes)
        record["Name"] = f"{record['FirstName']} {record['LastName']}"
        return self._ok(None, 204)

    async def _create_task(self, request: Request, version: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        task = await request.json()
        if bad := set(task) - TASK_FIELDS:
            return errors(
                400, "INVALID_FIELD", f"No such column '{sorted(bad)[0]}' on sobject of type Task"
            )
        if task.get("WhoId") not in self.contacts:
            return errors(400, "FIELD_INTEGRITY_EXCEPTION", "Name ID: id value of incorrect type")
        if task.get("CallType") not in (None, "Inbound", "Outbound", "Internal"):
            return errors(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Call Type: bad value")
        id_ = self.new_id("00T")
        self.tasks[id_] = task
        return self._ok({"id": id_, "success": True, "errors": []}, 201)

    async def _create_case(self, request: Request, version: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        case = await request.json()
        if bad := set(case) - CASE_FIELDS:
            return errors(
                400, "INVALID_FIELD", f"No such column '{sorted(bad)[0]}' on sobject of type Case"
            )
        if case.get("ContactId") not in self.contacts:
            return errors(
                400, "FIELD_INTEGRITY_EXCEPTION", "Contact ID: id value of incorrect type"
            )
        if case.get("Priority") not in (None, "High", "Medium", "Low"):
            return errors(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Priority: bad value")
        id_ = self.new_id("500")
        self.cases[id_] = case
        return self._ok({"id": id_, "success": True, "errors": []}, 201)

    async def _query(self, request: Request, version: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        try:
            fields, conditions, limit = parse_soql(request.query_params.get("q", ""))
        except ValueError as exc:
            return errors(400, "MALFORMED_QUERY", str(exc))
        if unknown := [f for f in (*fields, *conditions) if f not in CONTACT_COLUMNS]:
            return errors(
                400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Contact'"
            )
        rows = [
            self._record({f: c[f] for f in ["Id", *fields]}, version)
            for c in self.contacts.values()
            if all(c.get(k) == v for k, v in conditions.items())
        ][:limit]
        cursor = f"01g{secrets.token_hex(6)}"
        self._cursors[cursor] = rows
        return self._ok(self._page(version, cursor, 0))

    async def _query_more(self, request: Request, version: str, locator: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        cursor, _, offset = locator.rpartition("-")
        if cursor not in self._cursors or not offset.isdigit():
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._ok(self._page(version, cursor, int(offset)))

    def _page(self, version: str, cursor: str, offset: int) -> dict[str, Any]:
        rows = self._cursors[cursor]
        end = offset + self.page_size
        page: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": rows[offset:end],
        }
        if end < len(rows):
            page["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}-{end}"
        return page

    async def _limits(self, request: Request, version: str) -> Response:
        if refused := self._guard(request, version):
            return refused
        daily = {"Max": self.api_max, "Remaining": self.api_max - self.api_usage}
        return self._ok(
            {"DailyApiRequests": daily, "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000}}
        )


def parse_soql(query: str) -> tuple[list[str], dict[str, str], int | None]:
    """``SELECT f, ... FROM Contact WHERE F = 'v' [AND F = 'v']... [LIMIT n]``: the fields,
    the equality conditions and the limit; ValueError otherwise (as MALFORMED_QUERY)."""
    tokens: list[str] = []
    position = 0
    while position < len(query.rstrip()):
        match = _TOKEN.match(query, position)
        if match is None:
            raise ValueError(
                f"unexpected token at column {position + 1}: {query[position:][:20]!r}"
            )
        tokens.append(match.group(1))
        position = match.end()
    words = iter(tokens)

    def expect(word: str) -> None:
        got = next(words, "")
        if got.upper() != word:
            raise ValueError(f"unexpected token: {got!r}, expected {word}")

    expect("SELECT")
    fields = [next(words, "")]
    token = next(words, "")
    while token == ",":
        fields.append(next(words, ""))
        token = next(words, "")
    if token.upper() != "FROM" or next(words, "") != "Contact":
        raise ValueError("only SELECT ... FROM Contact is understood here")
    conditions: dict[str, str] = {}
    limit: int | None = None
    token = next(words, "")
    if token.upper() == "WHERE":
        while True:
            name = next(words, "")
            expect("=")
            conditions[name] = _literal(next(words, ""))
            token = next(words, "")
            if token.upper() != "AND":
                break
    if token.upper() == "LIMIT":
        count = next(words, "")
        if not count.isdigit():
            raise ValueError(f"unexpected token: {count!r}")
        limit, token = int(count), next(words, "")
    if token:
        raise ValueError(f"unexpected token: {token!r}")
    return fields, conditions, limit


def _literal(token: str) -> str:
    if len(token) < 2 or token[0] != "'" or token[-1] != "'":
        raise ValueError(f"expected a string literal, got {token!r}")
    out, chars = [], iter(token[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _UNESCAPES:
                raise ValueError(f"Invalid string literal: illegal escape \\{escaped}")
            char = _UNESCAPES[escaped]
        out.append(char)
    return "".join(out)
