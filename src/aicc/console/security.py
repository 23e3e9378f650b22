"""Browser-facing protections: security headers on every response, the session cookie, and
the CSRF check every state-changing request passes.

CSRF: a synchronizer token kept in the server-side session, sent back by each form (a
hidden ``csrf_token`` field) or script (an ``X-CSRF-Token`` header) and compared in constant
time; and the request's ``Origin`` (or, without one, ``Referer``) must be this console's own
origin or one listed in ``AICC_CONSOLE_ALLOWED_ORIGINS``. The SameSite=Strict cookie is a
third line: a cross-site request arrives without the session.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.console.dependencies import COOKIE_STATE, console_of, load_visit
from aicc.console.errors import CsrfRefused

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ]
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class ConsoleHeaders:
    """Pure ASGI middleware: the security headers on every response (pages, static files,
    errors, health), HSTS when cookies are Secure, and the session cookie change a request
    asked for (``request.state.console_cookie``)."""

    def __init__(self, app: ASGIApp, *, cookie_name: str, secure: bool) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.secure = secure
        self.headers = list(_HEADERS)
        if secure:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
                cookie = scope.get("state", {}).get(COOKIE_STATE)
                if cookie is not None:
                    headers.append("set-cookie", self.cookie_header(*cookie))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def cookie_header(self, action: str, session_id: str | None) -> str:
        parts = [f"{self.cookie_name}={session_id if action == 'set' else ''}", "Path=/"]
        if action != "set":
            parts.append("Max-Age=0")
        parts += ["HttpOnly", "SameSite=Strict"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, allowed: list[str]) -> None:
    """The request must come from a page of this console (or an allowed origin)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        origin = origin_of(referer) if referer else None
        if origin is None:
            raise CsrfRefused("no origin")
    host = request.headers.get("host", "")
    own = f"{request.url.scheme}://{host}".lower()
    if origin.lower().rstrip("/") not in {own, *(o.lower() for o in allowed)}:
        raise CsrfRefused("cross-origin")


async def csrf_protect(request: Request) -> None:
    """On every state-changing request (attached to every console router by
    :func:`aicc.console.routing.page_router`)."""
    if request.method in SAFE_METHODS:
        return
    console = console_of(request)
    check_origin(request, console.settings.console.allowed_origins)
    visit = await load_visit(request)
    expected = visit.session.csrf if visit.session is not None else None
    given: object = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith("application/x-www-form-urlencoded"):
        given = (await request.form()).get(CSRF_FIELD)
    if not (
        isinstance(given, str)
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise CsrfRefused("token")
