"""Sign in (password, then the MFA code when the account has one), sign out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Form, Query
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import AnyVisit, Visit
from aicc.console.navigation import Page
from aicc.console.rendering import NO_STORE
from aicc.console.routing import page_router
from aicc.console.signin import (
    attempt_login,
    establish,
    keep_pending,
    pending,
    safe_next,
    sign_out,
)

router = page_router()
Text = Annotated[str, Form(max_length=1024)]
NextPath = Annotated[str, Form(max_length=2048)]


def _go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def _login_page(
    visit: Visit,
    *,
    next_path: str,
    error: str | None = None,
    username: str = "",
    status: int,
    notice: str | None = None,
) -> Response:
    await visit.ensure_session()
    notice = notice or await visit.take_notice()
    return visit.render(
        "signin/login.html",
        status=status,
        next_path=safe_next(next_path),
        error=error,
        username=username,
        notice=notice,
        page_title="signin.title",
    )


@router.get("/login")
async def login_form(
    visit: AnyVisit,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
    bye: bool = False,
) -> Response:
    if visit.user is not None and visit.user.restriction is None:
        return _go(safe_next(next_path))
    notice = visit.t("signin.signed_out") if bye else None
    return await _login_page(visit, next_path=next_path, status=200, notice=notice)


@router.post("/login")
async def login(
    visit: AnyVisit,
    username: Annotated[str, Form(max_length=320)] = "",
    password: Text = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    if not username.strip() or not password:
        return await _login_page(
            visit,
            next_path=next_path,
            error=visit.t("signin.missing"),
            username=username,
            status=422,
        )
    outcome = await attempt_login(visit, username.strip(), password)
    if outcome.tokens is not None:
        return _go(await establish(visit, outcome.tokens, next_path))
    if outcome.problem == "mfa":
        await keep_pending(visit, username.strip(), password)
        return _go("/login/mfa?next=" + quote(safe_next(next_path), safe=""))
    status = 429 if outcome.problem == "signin.too_many" else 401
    error = visit.t(outcome.problem or "signin.invalid", **outcome.values)
    return await _login_page(
        visit, next_path=next_path, error=error, username=username, status=status
    )


async def _mfa_page(
    visit: Visit, *, next_path: str, error: str | None = None, status: int = 200
) -> Response:
    return visit.render(
        "signin/mfa.html",
        status=status,
        next_path=safe_next(next_path),
        error=error,
        page_title="mfa_step.title",
    )


@router.get("/login/mfa")
async def mfa_form(
    visit: AnyVisit,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    if pending(visit) is None:
        return _go("/login")
    return await _mfa_page(visit, next_path=next_path)


@router.post("/login/mfa")
async def mfa(
    visit: AnyVisit,
    code: Annotated[str, Form(max_length=64)] = "",
    next_path: NextPath = "/",
) -> Response:
    waiting = pending(visit)
    if waiting is None:
        await visit.leave_notice("mfa_step.expired")
        return _go("/login")
    code = code.replace(" ", "").strip()
    if not code:
        return await _mfa_page(visit, next_path=next_path, error=visit.t("mfa_step.missing"))
    outcome = await attempt_login(visit, waiting.username, waiting.password, code)
    if outcome.tokens is not None:
        return _go(await establish(visit, outcome.tokens, next_path))
    if outcome.problem == "signin.mfa_invalid":
        return await _mfa_page(
            visit, next_path=next_path, error=visit.t("signin.mfa_invalid"), status=401
        )
    await visit.update(lambda data: setattr(data, "pending_login", None))
    return await _login_page(
        visit,
        next_path=next_path,
        error=visit.t(outcome.problem or "signin.invalid", **outcome.values),
        username=waiting.username,
        status=429 if outcome.problem == "signin.too_many" else 401,
    )


@router.post("/logout")
async def logout(visit: AnyVisit) -> Response:
    await sign_out(visit)
    return _go("/login?bye=1")


PAGE = Page(router)
