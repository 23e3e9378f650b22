"""The signed-in user's own account: profile and password (a forced change included)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import SignedIn, SignedInAny, Visit
from aicc.console.errors import UpstreamError
from aicc.console.navigation import NavItem, Page
from aicc.console.rendering import NO_STORE
from aicc.console.routing import page_router
from aicc.console.sessions import SessionData
from aicc.console.signin import PASSWORD_PROBLEMS, establish

router = page_router()
Password = Annotated[str, Form(max_length=1024)]


@router.get("/account")
async def account(visit: SignedIn) -> Response:
    me: dict[str, Any] = await visit.api.get("auth", "/auth/me")
    names = " ".join(p for p in (me.get("first_name"), me.get("last_name")) if p).strip()
    user = visit.user
    if user is not None and (names != user.display_name or me.get("email") != user.email):

        def rename(data: SessionData) -> None:
            if data.user is not None:
                data.user.display_name = names
                data.user.email = str(me.get("email") or "")

        await visit.update(rename)
    return visit.render(
        "account/profile.html",
        me=me,
        notice=await visit.take_notice(),
        page_title="account.title",
    )


def _password_page(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    user = visit.user
    forced = user is not None and user.restriction == "password_change"
    return visit.render(
        "account/password.html",
        status=status,
        error=error,
        forced=forced,
        page_title="password.title",
    )


@router.get("/account/password")
async def password_form(visit: SignedInAny) -> Response:
    return _password_page(visit)


@router.post("/account/password")
async def change_password(
    visit: SignedInAny,
    current_password: Password = "",
    new_password: Password = "",
    confirm_password: Password = "",
) -> Response:
    if not current_password or not new_password:
        return _password_page(visit, error=visit.t("password.missing"), status=422)
    if new_password != confirm_password:
        return _password_page(visit, error=visit.t("password.mismatch"), status=422)
    try:
        tokens = await visit.api.post(
            "auth",
            "/auth/password",
            {"current_password": current_password, "new_password": new_password},
        )
    except UpstreamError as exc:
        key = PASSWORD_PROBLEMS.get(exc.code, "password.invalid")
        return _password_page(visit, error=visit.t(key), status=exc.status)
    # Every session of the user ended at the auth service; this one goes on with the new pair.
    target = await establish(visit, tokens, "/")
    await visit.leave_notice("password.changed")
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


PAGE = Page(router, NavItem("nav.account", "/account", None, order=900))
