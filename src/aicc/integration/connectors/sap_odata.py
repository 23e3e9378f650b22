"""A generic OData v2/v4 ERP connector (SAP Gateway, S/4HANA, any OData service).

``endpoint_url`` is the service root. ``odata_version`` ("v2"/"v4") picks the dialect; without
it a path containing ``/sap/opu/odata/`` is v2, anything else v4. Records come back the same
for both (see :func:`record`). ``filter`` is the caller's ``$filter``, sent as given; keys are
escaped here (:func:`key_predicate`). Writes carry SAP's CSRF token, fetched with
``X-CSRF-Token: Fetch`` together with its session cookies (sent explicitly, never kept in the
shared client) and fetched once more after ``403`` + ``x-csrf-token: Required``. Nothing is
cached between calls, so a write costs two requests.
See docs/integration-providers-payments-erp.md.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

import httpx2
import orjson

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.args import CheckedMethod, invalid
from aicc.integration.connectors.base import (
    CallContext,
    Connector,
    IntegrationType,
    Param,
    ProviderError,
    Token,
    methods,
)
from aicc.integration.connectors.http import Classifier, by_status, json_body, oauth_token, send

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
V2_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{1,4})?\)/$")
QUERY_SAFE = "'(),:@$*/"
KEY_SAFE = "'=,"
DEFAULT_MAX_PAGES = 10
CSRF_REQUIRED = "csrf_token_required"
JSON_IN_OUT = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass(frozen=True)
class KeyParam(Param):
    """An entity key: a string, an integer, or an object of key fields (composite keys)."""

    def check(self, value: Any) -> str | None:
        if isinstance(value, dict):
            names = all(isinstance(k, str) and NAME.match(k) for k in value)
            if not value or not names or not all(_scalar(v) for v in value.values()):
                return "must map key field names to strings or integers"
            return None
        if not _scalar(value) or value == "":
            return "must be a string, an integer or an object of key fields"
        return None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "type": "string|integer|object"}


ENTITY_SET = Param("entity_set", description="entity set name, e.g. A_SalesOrder")
KEY = KeyParam("key", description="'1001', 1001 or {'SalesOrder': '1', 'Item': '10'}")


class SapODataConnector(Connector):
    provider = "sap_odata"
    aliases = ("odata", "sap")
    type = IntegrationType.ERP
    hosts = ()
    keywords = ("sap", "odata", "erp")
    auth_types = ("basic", "oauth2", "bearer")
    required_config: ClassVar[dict[str, tuple[str, ...]]] = {
        "basic": ("username", "password"),
        "oauth2": ("client_id", "client_secret", "token_url"),
        "bearer": ("access_token",),
    }
    secret_keys = frozenset({"password", "client_secret", "access_token"})
    health_method = "GET service document"
    methods = methods(
        CheckedMethod(
            "query",
            (
                ENTITY_SET,
                Param("filter", required=False, description="$filter expression, as given"),
                Param("select", "array", required=False, description="property names"),
                Param("orderby", required=False, description="$orderby, e.g. 'Name desc'"),
                Param("top", "integer", required=False),
                Param("skip", "integer", required=False),
                Param("max_pages", "integer", required=False, description="default 10"),
            ),
            safe=True,
            description="Read an entity set, following server paging up to max_pages",
            check=lambda args: _check(args),
        ),
        CheckedMethod(
            "get",
            (ENTITY_SET, KEY, Param("select", "array", required=False)),
            safe=True,
            description="Read one entity by key",
            check=lambda args: _check(args),
        ),
        CheckedMethod(
            "create",
            (ENTITY_SET, Param("data", "object")),
            description="Create an entity (POST, with the CSRF token)",
            check=lambda args: _check(args),
        ),
        CheckedMethod(
            "update",
            (ENTITY_SET, KEY, Param("data", "object")),
            description="Change fields of an entity (v4 PATCH, v2 MERGE)",
            check=lambda args: _check(args),
        ),
    )

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method == "query":
            return await self._query(ctx, args)
        if method == "get":
            url = _entity_url(ctx, args) + _options(ctx, [("$select", args.get("select"))])
            body = await self._get(ctx, url)
            return {"record": record(_entity(body, _version(ctx)))}
        if method == "create":
            url = f"{_root(ctx)}/{args['entity_set']}"
            response = await self._write(ctx, "POST", url, args["data"], {})
            return {"created": True, "record": _written(response, _version(ctx))}
        if method == "update":
            if _version(ctx) == "v2":
                verb, extra = "POST", {"X-HTTP-Method": "MERGE"}
            else:
                verb, extra = "PATCH", {}
            response = await self._write(ctx, verb, _entity_url(ctx, args), args["data"], extra)
            return {"updated": True, "record": _written(response, _version(ctx))}
        raise ValidationFailed(f"sap_odata has no method {method!r}", code="unknown_method")

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """GET the service document (``$metadata`` can be megabytes)."""
        body = await self._get(ctx, _root(ctx) + "/" + _options(ctx, []))
        d = body.get("d") if isinstance(body, dict) else None
        listed = body.get("value") if isinstance(body, dict) else None
        sets = d.get("EntitySets") or [] if isinstance(d, dict) else []
        if isinstance(listed, list):
            sets = [s.get("name") for s in listed if isinstance(s, dict)]
        return {"ok": True, "odata_version": _version(ctx), "entity_sets": sets[:100]}

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:
        if ctx.integration.auth_type != "oauth2":
            return await super().fetch_token(ctx, current)
        form = {"grant_type": "client_credentials"}
        scope = ctx.integration.setting("scope")
        if scope:
            form["scope"] = str(scope)
        auth = (_setting(ctx, "client_id"), _setting(ctx, "client_secret"))
        return await oauth_token(ctx, _setting(ctx, "token_url"), form, auth=auth)

    async def _query(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        version = _version(ctx)
        options = [
            ("$filter", args.get("filter")),
            ("$select", args.get("select")),
            ("$orderby", args.get("orderby")),
            ("$top", args.get("top")),
            ("$skip", args.get("skip")),
        ]
        url: str | None = f"{_root(ctx)}/{args['entity_set']}" + _options(ctx, options)
        records: list[dict[str, Any]] = []
        pages, max_pages = 0, args.get("max_pages", DEFAULT_MAX_PAGES)
        while url is not None and pages < max_pages:
            body = await self._get(ctx, url)
            items, next_link = _collection(body, version)
            records.extend(record(item) for item in items if isinstance(item, dict))
            pages += 1
            url = _next_url(ctx, url, next_link) if next_link else None
        return {"records": records, "count": len(records), "pages": pages, "more": url is not None}

    async def _get(self, ctx: CallContext, url: str) -> Any:
        headers = {**await _auth(ctx), "Accept": "application/json"}
        response = await send(ctx, "GET", url, headers=headers, classify=_classifier(ctx))
        return json_body(response)

    async def _write(
        self, ctx: CallContext, verb: str, url: str, data: dict[str, Any], extra: dict[str, str]
    ) -> httpx2.Response:
        body, classify = orjson.dumps(data), _classifier(ctx)
        for attempt in range(2):
            headers = {**await _auth(ctx), **await self._csrf(ctx), **extra, **JSON_IN_OUT}
            try:
                return await send(ctx, verb, url, headers=headers, content=body, classify=classify)
            except ProviderError as error:
                if error.code != CSRF_REQUIRED or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    async def _csrf(self, ctx: CallContext) -> dict[str, str]:
        """A CSRF token and the session cookies it belongs to, as request headers."""
        headers = {**await _auth(ctx), "X-CSRF-Token": "Fetch", "Accept": "application/json"}
        url = _root(ctx) + "/" + _options(ctx, [])
        response = await send(ctx, "GET", url, headers=headers, classify=_classifier(ctx))
        session: dict[str, str] = {}
        token = response.headers.get("x-csrf-token")
        if token and token.lower() != "required":
            session["X-CSRF-Token"] = token
        cookies = _cookies(response)
        if cookies:
            session["Cookie"] = cookies
        return session


def record(item: dict[str, Any]) -> dict[str, Any]:
    """One entity without OData bookkeeping (see the module docstring)."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name == "__metadata" or name.startswith("@") or "@odata." in name:
            continue
        if isinstance(value, dict) and "__deferred" in value:
            continue
        out[name] = _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, str):
        match = V2_DATE.match(value)
        if match is None:
            return value
        at = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        text = at.isoformat(timespec="milliseconds" if at.microsecond else "seconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, dict):
        if isinstance(value.get("results"), list):
            return [_value(v) for v in value["results"]]
        return record(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def key_predicate(key: str | int | dict[str, str | int]) -> str:
    """``('a''b')``, ``(42)`` or ``(K1='a',K2=2)``, percent-encoded for a URL path."""
    if isinstance(key, dict):
        inner = ",".join(f"{name}={_literal(value)}" for name, value in key.items())
    else:
        inner = _literal(key)
    return "(" + quote(inner, safe=KEY_SAFE) + ")"


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _check(args: Mapping[str, Any]) -> None:
    """Names that go into the URL path and query must be OData identifiers."""
    if "entity_set" in args and not NAME.match(args["entity_set"]):
        raise invalid("entity_set", "must be an entity set name")
    select = args.get("select")
    if select is not None and not all(isinstance(s, str) and NAME.match(s) for s in select):
        raise invalid("select", "must be a list of property names")
    for name, least in (("top", 0), ("skip", 0), ("max_pages", 1)):
        if name in args and args[name] < least:
            raise invalid(name, f"must be at least {least}")


def _options(ctx: CallContext, options: list[tuple[str, Any]]) -> str:
    pairs: list[str] = []
    for name, value in options:
        if value is None or value == []:
            continue
        text = ",".join(value) if isinstance(value, list) else str(value)
        pairs.append(f"{name}={quote(text, safe=QUERY_SAFE)}")
    if _version(ctx) == "v2":
        pairs.append("$format=json")
    return "?" + "&".join(pairs) if pairs else ""


def _collection(body: Any, version: str) -> tuple[list[Any], str | None]:
    if version == "v2":
        d = body.get("d") if isinstance(body, dict) else None
        if isinstance(d, dict) and isinstance(d.get("results"), list):
            return d["results"], d.get("__next")
        if isinstance(d, list):  # OData v1 style
            return d, None
    elif isinstance(body, dict) and isinstance(body.get("value"), list):
        return body["value"], body.get("@odata.nextLink")
    raise ProviderError("the answer has no collection", code="invalid_response", outcome="terminal")


def _entity(body: Any, version: str) -> dict[str, Any]:
    found = body.get("d") if version == "v2" and isinstance(body, dict) else body
    if isinstance(found, dict) and isinstance(found.get("results"), dict):
        found = found["results"]
    if not isinstance(found, dict):
        raise ProviderError("the answer has no entity", code="invalid_response", outcome="terminal")
    return found


def _written(response: httpx2.Response, version: str) -> dict[str, Any] | None:
    if response.status_code == 204 or not response.content:
        return None
    return record(_entity(json_body(response), version))


def _next_url(ctx: CallContext, current: str, link: str) -> str:
    """The next page's URL; only on the service's own origin (the credentials go along)."""
    url = urljoin(current, link)
    here, there = urlsplit(_root(ctx)), urlsplit(url)
    if (here.scheme, here.netloc) != (there.scheme, there.netloc):
        raise ProviderError(
            "the service's next-page link points at another host",
            code="foreign_next_link",
            outcome="terminal",
        )
    if _version(ctx) == "v2" and "$format=" not in (there.query or ""):
        url += ("&" if there.query else "?") + "$format=json"
    return url


def _entity_url(ctx: CallContext, args: dict[str, Any]) -> str:
    return f"{_root(ctx)}/{args['entity_set']}{key_predicate(args['key'])}"


def _root(ctx: CallContext) -> str:
    return ctx.integration.endpoint_url.rstrip("/")


def _version(ctx: CallContext) -> str:
    chosen = str(ctx.integration.setting("odata_version") or "").lower().lstrip("v")
    if chosen in ("2", "4"):
        return "v" + chosen
    return "v2" if "/sap/opu/odata/" in urlsplit(_root(ctx)).path.lower() + "/" else "v4"


def _setting(ctx: CallContext, key: str) -> str:
    return str(ctx.integration.setting(key) or "")


async def _auth(ctx: CallContext) -> dict[str, str]:
    kind = ctx.integration.auth_type
    if kind == "oauth2":
        return {"Authorization": "Bearer " + (await ctx.token()).access_token}
    if kind == "bearer":
        return {"Authorization": f"Bearer {_setting(ctx, 'access_token')}"}
    pair = f"{_setting(ctx, 'username')}:{_setting(ctx, 'password')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _cookies(response: httpx2.Response) -> str:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        try:
            jar.load(header)
        except CookieError:
            continue
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def _classifier(ctx: CallContext) -> Classifier:
    oauth = ctx.integration.auth_type == "oauth2"

    def classify(response: httpx2.Response) -> ProviderError:
        refused = response.headers.get("x-csrf-token", "").lower() == "required"
        if response.status_code == 403 and refused:
            return ProviderError("CSRF token refused", code=CSRF_REQUIRED, outcome="terminal")
        code, message = odata_error(json_body(response))
        error = by_status(response, code=code, message=message)
        if error.status == 401 and not oauth:
            error.outcome = "reauth"  # a password or a static token cannot be refreshed
        if error.status == 503 and error.retry_after is not None:
            error.outcome = "throttled"
        return error

    return classify


def odata_error(body: Any) -> tuple[str | None, str | None]:
    """v2 ``{"error": {"code", "message": {"lang", "value"}}}`` or v4
    ``{"error": {"code", "message"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = str(error["code"]) if error.get("code") else None
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return code, str(message) if message else None
