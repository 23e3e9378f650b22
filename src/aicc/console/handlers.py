"""How a console request that did not end in its page is answered.

Pages get a page: a redirect (to sign in, to the password change), or the error page in the
user's language with the navigation they may see. Machine clients (``/health``,
``/metrics``, a request that accepts only JSON) get the common JSON error shape.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aicc.console.dependencies import COOKIE_STATE, load_visit
from aicc.console.errors import (
    PageError,
    PageNotFound,
    Redirect,
    ServiceDown,
    SignInRequired,
    UpstreamError,
)
from aicc.console.rendering import NO_STORE
from aicc.core.errors import AppError
from aicc.core.http import error_response

logger = logging.getLogger("aicc.console")
_JSON_PATHS = ("/health", "/metrics")
_STATUS_KEYS = {
    400: "error.bad_request",
    404: "error.not_found",
    405: "error.method_not_allowed",
    413: "error.too_large",
    422: "error.invalid_form",
    429: "error.too_many",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith(_JSON_PATHS):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def sign_in_url(request: Request) -> str:
    if request.method != "GET" or request.url.path in ("/login", "/logout"):
        return "/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login" if target == "/" else "/login?next=" + quote(target, safe="")


async def _redirect(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return RedirectResponse(exc.location, status_code=303, headers=NO_STORE)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if isinstance(exc, SignInRequired):
        if exc.session_ended:
            setattr(request.state, COOKIE_STATE, ("clear", None))
        if wants_json(request):
            return error_response(401, "sign_in_required", "Sign in to the console again")
        return RedirectResponse(sign_in_url(request), status_code=303, headers=NO_STORE)
    if isinstance(exc, ServiceDown):
        logger.warning(
            "service unavailable",
            extra={"metadata": {"service": exc.service, "reason": exc.detail}},
        )
    if wants_json(request):
        code = exc.code if isinstance(exc, UpstreamError) else exc.message_key.split(".")[-1]
        return error_response(exc.status, code, exc.detail or exc.message_key)
    return await error_page(request, exc.status, exc.message_key, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if wants_json(request):
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return error_response(exc.status_code, f"http_{exc.status_code}", message)
    key = _STATUS_KEYS.get(exc.status_code, "error.generic")
    return await error_page(request, exc.status_code, key, None)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if wants_json(request):
        return error_response(422, "validation_error", "Request validation failed")
    return await error_page(request, 422, "error.invalid_form", None)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if wants_json(request):
        return error_response(exc.status_code, exc.error_code, exc.message, exc.details)
    key = _STATUS_KEYS.get(exc.status_code, "error.generic")
    return await error_page(request, exc.status_code, key, None)


async def error_page(
    request: Request, status: int, message_key: str, exc: PageError | None
) -> Response:
    try:
        visit = await load_visit(request)
    except Exception:  # the session store itself is down: a page without the session
        logger.warning("error page without the session", exc_info=True)
        return Response(f"{status}", status_code=status, media_type="text/plain", headers=NO_STORE)
    detail = exc.message if isinstance(exc, UpstreamError) else None
    service = getattr(exc, "service", None)
    return visit.render(
        "error.html",
        status=status,
        status_code=status,
        message_key=message_key,
        detail=detail,
        service=service,
        not_found=isinstance(exc, PageNotFound) or status == 404,
        page_title="error.title",
    )


async def _backend_unavailable(request: Request, exc: Exception) -> Response:
    """The cache (sessions) cannot be reached: a 503 page, in the common shape for JSON."""
    logger.warning("backend unavailable", extra={"metadata": {"error": type(exc).__name__}})
    if wants_json(request):
        return error_response(
            503, "service_unavailable", "A backend is temporarily unavailable; retry shortly"
        )
    return await error_page(request, 503, "error.unavailable", None)


def install_page_handlers(app: FastAPI) -> None:
    """Replace the JSON-only handlers :func:`aicc.core.app.build_app` installed."""
    for unavailable in (ConnectionError, TimeoutError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(unavailable, _backend_unavailable)
    app.add_exception_handler(Redirect, _redirect)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(AppError, _app_error)
