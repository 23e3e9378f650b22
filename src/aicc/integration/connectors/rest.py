"""Any HTTP JSON API: one ``request`` method under the integration's ``endpoint_url``, six ways
to authenticate, and HMAC-signed inbound webhooks.

Outbound ``hmac`` signing and inbound webhook verification use the same scheme::

    X-Timestamp: <unix seconds>
    X-Signature: sha256=<hex HMAC-SHA256(secret, f"{X-Timestamp}.{raw body}")>

(``auth_config.secret`` and ``header`` outbound; ``auth_config.webhook_secret`` inbound, where
the timestamp must be within 5 minutes.) Every request other than GET carries
``Idempotency-Key: ctx.idempotency_key`` (stable across the attempts of one message; the header
name is option ``idempotency_header``, empty to leave it out). ``request`` is not marked safe,
even for GET: one method cannot be safe for some verbs only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import httpx2
import orjson

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
    WebhookRequest,
    methods,
)
from aicc.integration.connectors.http import by_status, json_body, oauth_token, send

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESPONSE_HEADERS = ("content-type", "etag", "location")
ALWAYS_PROTECTED = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "x-timestamp",
    }
)
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
WEBHOOK_WINDOW = 300.0
"""Seconds a signed webhook's ``X-Timestamp`` may be away from now."""


class JsonBody(Param):
    """A JSON object or array."""

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, dict | list) else "must be a JSON object or array"


class RestConnector(Connector):
    provider = "rest"
    aliases = ("http", "custom")
    type = IntegrationType.CUSTOM
    auth_types = ("none", "api_key", "basic", "bearer", "oauth2", "hmac")
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "api_key": ("api_key",),
        "basic": ("username", "password"),
        "bearer": ("token",),
        "oauth2": ("client_id", "client_secret", "token_url"),
        "hmac": ("secret",),
    }
    secret_keys = frozenset(
        {"api_key", "password", "token", "client_secret", "secret", "webhook_secret"}
    )
    health_method = "GET endpoint_url"
    methods = methods(
        CheckedMethod(
            "request",
            (
                Param("http_method", required=False, choices=HTTP_METHODS, description="GET"),
                Param("path", required=False, description="relative to endpoint_url"),
                Param("query", "object", required=False, description="query parameters"),
                JsonBody("json", "object", required=False, description="JSON object or array"),
                Param("headers", "object", required=False, description="extra headers"),
            ),
            description="One HTTP request under endpoint_url; answers status, headers, body",
            check=lambda args: _check(args),
        ),
    )

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(auth_type, auth_config)
        for key in ("header", "query_param"):
            name = auth_config.get(key)
            if name is not None and not (isinstance(name, str) and HEADER_NAME.fullmatch(name)):
                problems.append(f"auth_config.{key} must be a header or parameter name")
        if auth_type == "oauth2":
            url = str(auth_config.get("token_url") or "")
            if url and urlsplit(url).scheme not in ("http", "https"):
                problems.append("auth_config.token_url must be an http(s) URL")
            if auth_config.get("client_auth", "basic") not in ("basic", "post"):
                problems.append("auth_config.client_auth must be basic or post")
        return problems

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:
        config = ctx.integration.auth_config
        if ctx.integration.auth_type != "oauth2":
            return await super().fetch_token(ctx, current)
        form = {"grant_type": "client_credentials"}
        scope = config.get("scope")
        if scope:
            form["scope"] = " ".join(scope) if isinstance(scope, list) else str(scope)
        if config.get("audience"):
            form["audience"] = str(config["audience"])
        client = (str(config["client_id"]), str(config["client_secret"]))
        if config.get("client_auth") == "post":
            form.update(client_id=client[0], client_secret=client[1])
            return await oauth_token(ctx, str(config["token_url"]), form)
        return await oauth_token(ctx, str(config["token_url"]), form, auth=client)

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method != "request":
            raise ProviderError(
                f"unknown method {method}", code="unknown_method", outcome="terminal"
            )
        _check(args)
        verb = args.get("http_method", "GET")
        headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
        protected = _protected(ctx.integration)
        for name in headers:
            if name.lower() in protected:
                raise ProviderError(
                    f"payload.headers: {name} is set by the integration and cannot be given",
                    code="invalid_arguments",
                    outcome="terminal",
                )
        content = b""
        if "json" in args:
            content = orjson.dumps(args["json"])
            headers["Content-Type"] = "application/json"
        idempotency = ctx.integration.setting("idempotency_header", "Idempotency-Key")
        if verb != "GET" and idempotency:
            headers[str(idempotency)] = ctx.idempotency_key
        response = await self._send(
            ctx, verb, args.get("path", ""), _query(args.get("query")), headers, content
        )
        return {
            "status_code": response.status_code,
            "headers": {k: response.headers[k] for k in RESPONSE_HEADERS if k in response.headers},
            "body": _body(response),
        }

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """``GET endpoint_url`` with the credentials: any answer but a 401, a 408 or a 5xx
        proves the endpoint is reachable (a 403 or a 404 still counts)."""
        try:
            status = (await self._send(ctx, "GET", "", [], {}, b"")).status_code
        except ProviderError as error:
            if error.status is None or error.status in (401, 408) or error.status >= 500:
                raise
            status = error.status
        return {"ok": True, "detail": f"endpoint_url answered HTTP {status}", "status": status}

    async def verify_webhook(self, ctx: CallContext, request: WebhookRequest) -> list[WebhookEvent]:
        secret = str(ctx.integration.setting("webhook_secret") or "")
        if not secret:
            raise WebhookRejected("auth_config.webhook_secret is not set; cannot verify")
        stamp = request.headers.get("x-timestamp", "").strip()
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > WEBHOOK_WINDOW:
            raise WebhookRejected("X-Timestamp is missing or not within 5 minutes of now")
        expected = signature(secret, stamp, request.body)
        given = request.headers.get("x-signature", "").strip().lower()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected("X-Signature is missing or does not match")
        return [_event(request)]

    async def _send(
        self,
        ctx: CallContext,
        verb: str,
        path: str,
        params: list[tuple[str, str]],
        headers: dict[str, str],
        content: bytes,
    ) -> httpx2.Response:
        integration = ctx.integration
        url, base_query = _url(integration.endpoint_url, path)
        params = base_query + params
        config = integration.auth_config
        kind = integration.auth_type
        if kind == "api_key":
            if config.get("query_param"):
                params.append((str(config["query_param"]), str(config["api_key"])))
            else:
                headers[str(config.get("header") or "X-API-Key")] = str(config["api_key"])
        elif kind == "basic":
            pair = f"{config['username']}:{config['password']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif kind == "bearer":
            headers["Authorization"] = f"Bearer {config['token']}"
        elif kind == "oauth2":
            headers["Authorization"] = f"Bearer {(await ctx.token()).access_token}"
        elif kind == "hmac":
            stamp = str(int(time.time()))
            headers[str(config.get("header") or "X-Signature")] = signature(
                str(config["secret"]), stamp, content
            )
            headers["X-Timestamp"] = stamp

        def classify(response: httpx2.Response) -> ProviderError | None:
            if response.status_code != 401:
                return None
            failure = by_status(response)
            failure.outcome = "refresh" if kind == "oauth2" else "reauth"
            return failure

        return await send(
            ctx,
            verb,
            url,
            params=params,
            headers=headers,
            content=content or None,
            classify=classify,
        )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``f"{timestamp}.{body}"``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _check(args: Mapping[str, Any]) -> None:
    _relative(args.get("path", ""))
    _query(args.get("query"))
    for name, value in (args.get("headers") or {}).items():
        if not HEADER_NAME.fullmatch(name):
            raise invalid("headers", f"{name!r} is not a header name")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise invalid("headers", f"{name}: the value must be one line of text")
        if name.lower() in ALWAYS_PROTECTED:
            raise invalid("headers", f"{name} is set by the integration and cannot be given")
    if "json" in args and args.get("http_method", "GET") == "GET":
        raise invalid("json", "a GET request has no body; use POST, PUT, PATCH or DELETE")


def _relative(path: str) -> str:
    """``path`` when it stays under ``endpoint_url``: no scheme or host, no ``.`` or ``..``
    segment (percent-encoded or not), no query or fragment."""
    if "://" in path or path.startswith("//") or "\\" in path:
        raise invalid("path", "must be a path under endpoint_url, not a URL")
    if "?" in path or "#" in path:
        raise invalid("path", "must not hold a query or fragment; give query parameters in query")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise invalid("path", "must not hold control characters")
    decoded = path
    for _ in range(3):
        decoded = unquote(decoded)
    if any(part in (".", "..") for part in decoded.replace("\\", "/").split("/")):
        raise invalid("path", "must stay under endpoint_url: no . or .. segments")
    return path.lstrip("/")


def _query(query: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in (query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                pairs.append((name, "true" if item else "false"))
            elif isinstance(item, str | int | float):
                pairs.append((name, str(item)))
            else:
                raise invalid("query", f"{name}: values must be text, numbers or lists of them")
    return pairs


def _url(endpoint_url: str, path: str) -> tuple[str, list[tuple[str, str]]]:
    """The request URL (``path`` under the endpoint's path) and the endpoint's own query."""
    parts = urlsplit(endpoint_url)
    relative = _relative(path)
    base = parts.path.rstrip("/")
    full = f"{base}/{relative}" if relative else (parts.path or "/")
    url = urlunsplit((parts.scheme, parts.netloc, full, "", ""))
    return url, parse_qsl(parts.query, keep_blank_values=True)


def _protected(integration: Integration) -> set[str]:
    names = set(ALWAYS_PROTECTED)
    config = integration.auth_config
    if integration.auth_type == "api_key" and not config.get("query_param"):
        names.add(str(config.get("header") or "X-API-Key").lower())
    if integration.auth_type == "hmac":
        names.add(str(config.get("header") or "X-Signature").lower())
    idempotency = integration.setting("idempotency_header", "Idempotency-Key")
    if idempotency:
        names.add(str(idempotency).lower())
    return names


def _body(response: httpx2.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        parsed = json_body(response)
        if parsed is not None or response.content.strip() == b"null":
            return parsed
    return response.text


def _event(request: WebhookRequest) -> WebhookEvent:
    try:
        parsed: Any = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        parsed = None
    body = parsed if isinstance(parsed, dict) else {}
    event_id = request.headers.get("x-event-id", "").strip()
    if not event_id:
        for key in ("id", "event_id"):
            value = body.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                event_id = str(value)
                break
    if not event_id:
        event_id = hashlib.sha256(request.body).hexdigest()
    kind = next(
        (v for v in (body.get("type"), body.get("event")) if isinstance(v, str) and v),
        "webhook",
    )
    if isinstance(parsed, dict):
        data = parsed
    elif parsed is not None:
        data = {"body": parsed}
    else:
        data = {"text": request.body.decode("utf-8", errors="replace")}
    return WebhookEvent(event_id=event_id, event_type=kind, data=data)
