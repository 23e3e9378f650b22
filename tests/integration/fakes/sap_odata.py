"""A tiny OData service in SAP Gateway's v2 flavour or the v4 one.

Two entity sets: ``Products`` (key ``ProductID``) and ``OrderItems`` (composite key
``OrderID`` + ``ItemNo``). Reads support ``$filter`` with one ``Field eq literal``, ``$select``,
``$orderby``, ``$top``, ``$skip`` and server paging of ``page_size`` (v2: absolute ``__next`` in
``d``; v4: relative ``@odata.nextLink``). v2 answers carry ``__metadata``, deferred navigation
links and ``/Date(ms)/``; v4 answers ``@odata.context``/``@odata.etag`` and ISO dates.

Writes need SAP's CSRF token: ``GET`` with ``X-CSRF-Token: Fetch`` opens a session (cookie) and
answers the token; a write without the session's token gets ``403`` + ``x-csrf-token:
Required``. ``expire_sessions()`` forgets every session, as a Gateway restart does;
``expire_before_next_write`` does it between a token fetch and the write that uses it. Auth is
Basic, a static bearer token, or a token from ``POST /oauth/token`` (client_credentials).
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote

import orjson
from fastapi import Request, Response

from tests.integration.fakes.common import FakeProvider

USERNAME, PASSWORD = "AICC_RFC", "Init1234!"
CLIENT_ID, CLIENT_SECRET = "sb-aicc-client", "aicc-client-secret"
COOKIE = "SAP_SESSIONID_AIC_100"
KEYS = {"Products": ("ProductID",), "OrderItems": ("OrderID", "ItemNo")}
RESOURCE = re.compile(r"^/([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$")
FILTER = re.compile(r"^\s*(\w+) eq (?:'((?:[^']|'')*)'|(-?\d+))\s*$")
WRITES = ("POST", "PATCH", "PUT", "MERGE", "DELETE")


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seed() -> dict[str, list[dict[str, Any]]]:
    return {
        "Products": [
            {"ProductID": "P1", "Name": "Galaxy S", "Category": "Phone", "Price": 1200},
            {"ProductID": "P2", "Name": "O'Neil Headset", "Category": "Audio", "Price": 90},
            {"ProductID": "P3", "Name": "Pixel", "Category": "Phone", "Price": 900},
            {"ProductID": "P4", "Name": "ThinkPad", "Category": "Laptop", "Price": 1800},
            {"ProductID": "P5", "Name": "iPhone", "Category": "Phone", "Price": 1300},
            {"ProductID": "P6", "Name": "Xperia", "Category": "Phone", "Price": 800},
        ],
        "OrderItems": [
            {"OrderID": "SO/1'A", "ItemNo": "10", "ProductID": "P1", "Quantity": 2},
            {"OrderID": "SO/1'A", "ItemNo": "20", "ProductID": "P2", "Quantity": 1},
            {"OrderID": "SO2", "ItemNo": "10", "ProductID": "P4", "Quantity": 5},
        ],
    }


class FakeSapOData(FakeProvider):
    def __init__(self, version: str = "v2", *, page_size: int = 2) -> None:
        super().__init__(f"OData {version} stand-in")
        self.version = version
        self.page_size = page_size
        self.root = "/sap/opu/odata/sap/ZAICC_SRV" if version == "v2" else "/odata/v4/aicc"
        self.data = seed()
        created = _date("2023-11-14T22:13:20")
        for rows in self.data.values():
            for row in rows:
                row["CreatedAt"] = created
        self.bearer_tokens: set[str] = {"static-bearer-token"}
        self.sessions: dict[str, str] = {}
        self.token_requests = 0
        self.expire_before_next_write = False
        """When set, the next write finds its session gone (a Gateway restart in between)."""
        self._routes()

    @property
    def service_url(self) -> str:
        return self.url + self.root

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def row(self, entity_set: str, **key: str) -> dict[str, Any] | None:
        return next((r for r in self.data[entity_set] if _matches(r, key)), None)

    # ---- rendering

    def _error(self, status: int, code: str, message: str) -> Response:
        if self.version == "v2":
            body: dict[str, Any] = {
                "error": {
                    "code": code,
                    "message": {"lang": "en", "value": message},
                    "innererror": {"transactionid": secrets.token_hex(16), "errordetails": []},
                }
            }
        else:
            body = {"error": {"code": code, "message": message}}
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    def _json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    def _render(self, entity_set: str, row: dict[str, Any], base: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, datetime):
                if self.version == "v2":
                    value = f"/Date({int(value.timestamp() * 1000)})/"
                else:
                    value = value.isoformat().replace("+00:00", "Z")
            out[name] = value
        uri = f"{base}{self.root}/{entity_set}{_predicate(entity_set, row)}"
        if self.version == "v2":
            out = {"__metadata": {"id": uri, "uri": uri, "type": f"ZAICC_SRV.{entity_set}"}, **out}
            if entity_set == "Products":
                out["ToItems"] = {"__deferred": {"uri": uri + "/ToItems"}}
        else:
            out = {"@odata.etag": 'W/"1"', **out}
        return out

    # ---- routes

    def _routes(self) -> None:
        @self.app.post("/oauth/token")
        async def token(request: Request) -> Response:
            self.token_requests += 1
            form = dict(parse_qsl((await request.body()).decode()))
            client = _basic(request.headers.get("authorization", ""))
            if client != (CLIENT_ID, CLIENT_SECRET) or form.get("grant_type") != (
                "client_credentials"
            ):
                return self._json({"error": "invalid_client"}, 401)
            issued = "oauth-" + secrets.token_hex(8)
            self.bearer_tokens.add(issued)
            return self._json({"access_token": issued, "token_type": "bearer", "expires_in": 3600})

        @self.app.api_route(
            "/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "MERGE", "DELETE"]
        )
        async def odata(request: Request) -> Response:
            return await self._serve(request)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[7:] in self.bearer_tokens
        return _basic(header) == (USERNAME, PASSWORD)

    async def _serve(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response(
                "Logon failed", status_code=401, headers={"WWW-Authenticate": 'Basic realm="SAP"'}
            )
        raw_path = request.scope.get("raw_path", b"").decode() or request.url.path
        if not raw_path.startswith(self.root):
            return self._error(404, "/IWFND/MED/170", "No service found for namespace")
        method = request.headers.get("x-http-method", request.method).upper()
        session = request.cookies.get(COOKIE)
        headers: dict[str, str] = {}
        if request.headers.get("x-csrf-token", "").lower() == "fetch" and request.method == "GET":
            session = session if session in self.sessions else secrets.token_hex(8)
            self.sessions[session] = secrets.token_urlsafe(18)
            headers = {
                "x-csrf-token": self.sessions[session],
                "set-cookie": f"{COOKIE}={session}; path=/; HttpOnly",
            }
        elif method in WRITES and self.expire_before_next_write:
            self.expire_before_next_write = False
            self.sessions.clear()
            return Response(
                "CSRF token validation failed",
                status_code=403,
                headers={"x-csrf-token": "Required"},
            )
        elif method in WRITES and (
            session not in self.sessions
            or self.sessions[session] != request.headers.get("x-csrf-token")
        ):
            return Response(
                "CSRF token validation failed",
                status_code=403,
                headers={"x-csrf-token": "Required"},
            )
        rest = raw_path[len(self.root) :]
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if (
            self.version == "v2"
            and query.get("$format") != "json"
            and ("json" not in request.headers.get("accept", ""))
        ):
            return Response("<feed/>", media_type="application/atom+xml")
        if rest in ("", "/"):
            if method != "GET":
                return self._error(405, "METHOD_NOT_ALLOWED", "The service root is read-only")
            names = list(self.data)
            if self.version == "v2":
                return self._json({"d": {"EntitySets": names}}, headers=headers)
            value = [{"name": n, "kind": "EntitySet", "url": n} for n in names]
            return self._json({"@odata.context": "$metadata", "value": value}, headers=headers)
        match = RESOURCE.match(rest)
        entity_set = unquote(match.group(1)) if match else ""
        if entity_set not in self.data:
            return self._error(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for '{rest}'")
        assert match is not None
        base = str(request.base_url).rstrip("/")
        if match.group(2) is None:
            if method == "GET":
                return self._collection(entity_set, query, base, headers)
            if method == "POST":
                return self._create(entity_set, orjson.loads(await request.body()), base)
            return self._error(405, "METHOD_NOT_ALLOWED", f"{method} on a collection")
        try:
            key = _parse_key(entity_set, unquote(match.group(2)))
        except ValueError as exc:
            return self._error(400, "/IWBEP/CM_MGW_RT/021", f"Invalid key predicate: {exc}")
        row = self.row(entity_set, **key)
        if row is None:
            return self._error(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for key {key}")
        if method == "GET":
            body = self._render(entity_set, _select(row, query, KEYS[entity_set]), base)
            if self.version == "v2":
                return self._json({"d": body}, headers=headers)
            return self._json({"@odata.context": f"$metadata#{entity_set}/$entity", **body})
        if method in ("PATCH", "MERGE"):
            changes = orjson.loads(await request.body())
            if any(k in KEYS[entity_set] for k in changes):
                return self._error(400, "/IWBEP/CM_MGW_RT/022", "Key fields cannot change")
            row.update(changes)
            return Response(status_code=204)
        return self._error(405, "METHOD_NOT_ALLOWED", f"{method} is not supported here")

    def _collection(
        self, entity_set: str, query: dict[str, str], base: str, headers: dict[str, str]
    ) -> Response:
        rows = list(self.data[entity_set])
        if "$filter" in query:
            found = FILTER.match(query["$filter"])
            if found is None:
                return self._error(400, "/IWBEP/CM_MGW_RT/004", "Filter not supported here")
            field, text, number = found.groups()
            wanted: Any = int(number) if number is not None else text.replace("''", "'")
            rows = [r for r in rows if r.get(field) == wanted]
        if "$orderby" in query:
            field, _, direction = query["$orderby"].partition(" ")
            rows.sort(key=lambda r: cast(Any, r.get(field)), reverse=direction.strip() == "desc")
        skip = int(query.get("$skip", 0))
        rows = rows[skip:]
        if "$top" in query:
            rows = rows[: int(query["$top"])]
        offset = int(query.get("$skiptoken", 0))
        page = rows[offset : offset + self.page_size]
        values = [self._render(entity_set, _select(r, query, KEYS[entity_set]), base) for r in page]
        next_link = None
        if offset + self.page_size < len(rows):
            options = {k: v for k, v in query.items() if k != "$skiptoken"}
            options["$skiptoken"] = str(offset + self.page_size)
            text = "&".join(f"{k}={quote(v, safe='$,()')}" for k, v in options.items())
            next_link = f"{entity_set}?{text}"
        if self.version == "v2":
            d: dict[str, Any] = {"results": values}
            if next_link:
                d["__next"] = f"{base}{self.root}/{next_link}"
            return self._json({"d": d}, headers=headers)
        body: dict[str, Any] = {"@odata.context": f"$metadata#{entity_set}", "value": values}
        if next_link:
            body["@odata.nextLink"] = next_link
        return self._json(body, headers=headers)

    def _create(self, entity_set: str, data: dict[str, Any], base: str) -> Response:
        key = {name: data.get(name) for name in KEYS[entity_set]}
        if not all(isinstance(v, str) and v for v in key.values()):
            return self._error(400, "/IWBEP/CM_MGW_RT/022", "Key fields are required")
        if self.row(entity_set, **key) is not None:  # type: ignore[arg-type]
            return self._error(400, "/IWBEP/CM_MGW_RT/023", "The entity already exists")
        row = {**data, "CreatedAt": datetime.now(UTC).replace(microsecond=0)}
        self.data[entity_set].append(row)
        body = self._render(entity_set, row, base)
        if self.version == "v2":
            return self._json({"d": body}, 201)
        return self._json({"@odata.context": f"$metadata#{entity_set}/$entity", **body}, 201)


def _matches(row: dict[str, Any], key: dict[str, str]) -> bool:
    return all(row.get(k) == v for k, v in key.items())


def _select(row: dict[str, Any], query: dict[str, str], keys: tuple[str, ...]) -> dict[str, Any]:
    if "$select" not in query:
        return row
    wanted = set(query["$select"].split(",")) | set(keys)
    return {k: v for k, v in row.items() if k in wanted}


def _predicate(entity_set: str, row: dict[str, Any]) -> str:
    parts = [f"{k}='{str(row[k]).replace(chr(39), chr(39) * 2)}'" for k in KEYS[entity_set]]
    inner = parts[0].split("=", 1)[1] if len(parts) == 1 else ",".join(parts)
    return "(" + quote(inner, safe="'=,") + ")"


def _parse_key(entity_set: str, text: str) -> dict[str, str]:
    """``'a''b'`` or ``K1='x',K2='y'`` (string keys only) into field values."""
    values: dict[str, str] = {}
    position = 0
    names = KEYS[entity_set]
    while position < len(text):
        name = None
        equals = re.match(r"(\w+)=", text[position:])
        if equals:
            name = equals.group(1)
            position += equals.end()
        if position >= len(text) or text[position] != "'":
            raise ValueError("string key values must be quoted")
        position += 1
        chars: list[str] = []
        while True:
            if position >= len(text):
                raise ValueError("unterminated string")
            if text[position] == "'":
                if text[position + 1 : position + 2] == "'":
                    chars.append("'")
                    position += 2
                    continue
                position += 1
                break
            chars.append(text[position])
            position += 1
        if name is None:
            if len(names) != 1 or values:
                raise ValueError("a composite key needs field names")
            name = names[0]
        if name not in names:
            raise ValueError(f"{name} is not a key field")
        values[name] = "".join(chars)
        if position < len(text):
            if text[position] != ",":
                raise ValueError("expected ,")
            position += 1
    if set(values) != set(names):
        raise ValueError("every key field is needed")
    return values


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user, password
