"""The language switch: a cookie read before ``Accept-Language``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import AnyVisit
from aicc.console.i18n import LANG_COOKIE, LANGUAGES
from aicc.console.navigation import Page
from aicc.console.rendering import NO_STORE
from aicc.console.routing import page_router
from aicc.console.signin import safe_next

router = page_router()
ONE_YEAR = 365 * 24 * 3600


@router.post("/language")
async def choose(
    visit: AnyVisit,
    lang: Annotated[str, Form(max_length=8)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    response = RedirectResponse(safe_next(next_path), status_code=303, headers=NO_STORE)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=ONE_YEAR,
            path="/",
            httponly=True,
            samesite="strict",
            secure=visit.console.cookie_secure,
        )
    return response


PAGE = Page(router)
