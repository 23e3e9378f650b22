"""One browser request as the pages see it (a :class:`Visit`), and the dependencies that
require a signed-in user, full access or a permission."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from aicc.console.errors import NotAllowed, Redirect, SignInRequired
from aicc.console.i18n import LANG_COOKIE, Translator, choose_language
from aicc.console.proxy import ServiceApi
from aicc.console.sessions import SessionData, SignedInUser, new_token
from aicc.console.upstream import Caller

if TYPE_CHECKING:
    from aicc.console.service import ConsoleService

COOKIE_STATE = "console_cookie"
"""``request.state`` key: ("set", id) or ("clear", None), applied to whatever response goes
out (a page, a redirect, an error page) by :class:`aicc.console.security.ConsoleHeaders`."""
RESTRICTED_PAGES = {"password_change": "/account/password", "mfa_enroll": "/account/mfa"}
"""Where a user whose token allows only one thing is sent."""


def console_of(request: Request) -> ConsoleService:
    service: ConsoleService = request.app.state.aicc_service
    return service


@dataclass
class Visit:
    request: Request
    console: ConsoleService
    lang: str
    t: Translator
    caller: Caller
    session_id: str | None
    session: SessionData | None

    @property
    def user(self) -> SignedInUser | None:
        return self.session.user if self.session is not None else None

    @property
    def api(self) -> ServiceApi:
        """Calls to the services with this user's token (see :class:`ServiceApi`)."""
        return ServiceApi(self)

    def _cookie(self, action: str, session_id: str | None) -> None:
        setattr(self.request.state, COOKIE_STATE, (action, session_id))

    async def ensure_session(self) -> SessionData:
        """The session, started (anonymous) if there is none: sign-in forms need its CSRF
        token and a sign-in in progress is kept in it."""
        if self.session is None or self.session_id is None:
            self.session = SessionData.anonymous()
            self.session_id = await self.console.store.create(self.session)
            self._cookie("set", self.session_id)
        return self.session

    async def update(self, change: Callable[[SessionData], Awaitable[None] | None]) -> SessionData:
        if self.session_id is None:
            raise SignInRequired()
        updated = await self.console.store.update(self.session_id, change)
        if updated is None:
            self._cookie("clear", None)
            raise SignInRequired(session_ended=True)
        self.session = updated
        return updated

    async def start_signed_in(self, data: SessionData) -> None:
        """Store ``data`` (now signed in) under a new session id, retiring the old one."""
        data.csrf = new_token()
        self.session_id = await self.console.store.rotate(self.session_id, data)
        self.session = data
        self._cookie("set", self.session_id)

    async def end(self) -> None:
        if self.session_id is not None:
            await self.console.store.delete(self.session_id)
        self.session = None
        self.session_id = None
        self._cookie("clear", None)

    async def take_notice(self) -> str | None:
        """The one-time message left for this page by the previous request, translated."""
        if self.session is None or self.session.notice is None:
            return None
        key = self.session.notice

        def clear(data: SessionData) -> None:
            data.notice = None

        await self.update(clear)
        return self.t(key)

    async def leave_notice(self, key: str) -> None:
        def keep(data: SessionData) -> None:
            data.notice = key

        await self.update(keep)

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        return self.console.renderer.page(self, template, status=status, **context)


async def load_visit(request: Request) -> Visit:
    """The visit of this request: the session named by the cookie (if it still exists) and
    the language; built once per request."""
    found: Visit | None = getattr(request.state, "visit", None)
    if found is not None:
        return found
    console = console_of(request)
    settings = console.settings.console
    lang = choose_language(
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        settings.default_language,
    )
    session_id = request.cookies.get(console.cookie_name)
    session = await console.store.load(session_id) if session_id else None
    if session_id and session is None:
        setattr(request.state, COOKIE_STATE, ("clear", None))
        session_id = None
    client = request.client
    visit = Visit(
        request=request,
        console=console,
        lang=lang,
        t=console.renderer.translator(lang),
        caller=Caller(client.host if client else None, request.headers.get("user-agent")),
        session_id=session_id,
        session=session,
    )
    request.state.visit = visit
    return visit


async def _signed_in(request: Request, *, restricted_ok: bool) -> Visit:
    visit = await load_visit(request)
    if visit.session is None or visit.session_id is None or visit.user is None:
        raise SignInRequired()
    console = visit.console
    visit.session = await console.keeper.current(visit.session_id, visit.session, visit.caller)
    await console.store.touch(visit.session_id, visit.session)
    user = visit.user
    assert user is not None
    if user.restriction is not None and not restricted_ok:
        raise Redirect(RESTRICTED_PAGES[user.restriction])
    return visit


async def signed_in(request: Request) -> Visit:
    """A signed-in user with full access (one who must first change the password or enrol
    MFA is sent to that page)."""
    return await _signed_in(request, restricted_ok=False)


async def signed_in_any(request: Request) -> Visit:
    """A signed-in user, even one whose token allows only changing the password or
    enrolling MFA (the pages that do that, sign-out)."""
    return await _signed_in(request, restricted_ok=True)


def require(permission: str) -> Callable[[Request], Awaitable[Visit]]:
    """A signed-in user with full access and ``permission``; others get the 403 page."""

    async def check(request: Request) -> Visit:
        visit = await signed_in(request)
        user = visit.user
        if user is None or not user.can(permission):
            raise NotAllowed(permission)
        return visit

    return check


AnyVisit = Annotated[Visit, Depends(load_visit)]
SignedIn = Annotated[Visit, Depends(signed_in)]
SignedInAny = Annotated[Visit, Depends(signed_in_any)]
