"""Request plumbing shared by every service: client address behind trusted proxies, request
ids, access log, metrics, body limits, and the handlers that render every error in the one
JSON shape."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.core.errors import AppError, error_body
from aicc.core.logging import request_id_var, service_var
from aicc.core.metrics import UNMATCHED_ROUTE, AppMetrics
from aicc.core.proxies import TrustedProxies

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}
access_logger = logging.getLogger("aicc.access")
error_logger = logging.getLogger("aicc.errors")


class RequestContextMiddleware:
    """Pure ASGI middleware: one per app, outermost, so it sees every response.

    It sets the client address and scheme from trusted proxies' forwarding headers (HTTP
    and WebSocket), assigns the request id, limits the body size, records metrics by route
    template, writes the one access-log line, and turns any unhandled exception into a
    logged 500 in the common error shape.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        metrics: AppMetrics,
        max_body_bytes: int,
        access_log: bool = True,
        trusted_proxies: TrustedProxies | None = None,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self.trusted_proxies = trusted_proxies or None
        self.body_limits = dict(body_limits or {})
        """Paths (exact) that take larger bodies than ``max_body_bytes`` (uploads)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted_proxies is not None and scope["type"] in ("http", "websocket"):
            self.trusted_proxies.apply(scope)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        svc_token = service_var.set(self.service)
        rid_header = (b"x-request-id", request_id.encode())
        state = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            declared = _content_length(scope)
            limit = self.body_limits.get(scope["path"], self.max_body_bytes)
            if declared is not None and declared > limit:
                await _too_large(request_id, send_with_id, limit)
            else:
                await self.app(scope, self._limited(receive, limit), send_with_id)
        except Exception:
            error_logger.exception(
                "unhandled error",
                extra={
                    "metadata": {"method": scope["method"], "path": scope.get("path")},
                    "request_id": request_id,
                    "service": self.service,
                },
            )
            if not state["started"]:
                body = error_body("internal_error", "Internal server error", request_id)
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            status = int(state["status"])
            self.metrics.observe(scope["method"], template, status, elapsed)
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_logger.info(
                    "request",
                    extra={
                        "metadata": {
                            "method": scope["method"],
                            "route": template,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            "client": client[0] if client else None,
                        },
                        "request_id": request_id,
                        "service": self.service,
                    },
                )
            request_id_var.reset(rid_token)
            service_var.reset(svc_token)

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, f"Request body exceeds {limit} bytes")
            return message

        return limited_receive


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            return candidate if _REQUEST_ID_RE.match(candidate) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(request_id: str, send: Send, limit: int) -> None:
    body = orjson.dumps(
        error_body("payload_too_large", f"Request body exceeds {limit} bytes", request_id)
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(code, message, request_id_var.get(), details)
    return JSONResponse(body, status_code=status, headers=headers)


async def _app_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.error_code, exc.message, exc.details, exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(422, "validation_error", "Request validation failed", details)


async def _integrity_error(_: Request, exc: Exception) -> Response:
    error_logger.info("integrity error", extra={"metadata": {"error": type(exc).__name__}})
    return error_response(409, "conflict", "The request conflicts with existing data")


async def _backend_unavailable(_: Request, exc: Exception) -> Response:
    error_logger.warning("backend unavailable", extra={"metadata": {"error": type(exc).__name__}})
    return error_response(
        503,
        "service_unavailable",
        "A backend is temporarily unavailable; retry shortly",
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    for unavailable in (
        OperationalError,
        InterfaceError,
        ConnectionError,
        TimeoutError,
        RedisConnectionError,
        RedisTimeoutError,
    ):
        app.add_exception_handler(unavailable, _backend_unavailable)
