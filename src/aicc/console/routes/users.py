"""Users (``users:manage``): the search list. The users issue adds creating, roles,
disable/enable, unlock, password reset, ending sessions and the audit log here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit, require
from aicc.console.navigation import NavItem, Page
from aicc.console.routing import page_router

router = page_router()
PERMISSION = "users:manage"
Admin = Annotated[Visit, Depends(require(PERMISSION))]


@router.get("/users")
async def users(
    visit: Admin,
    q: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    page: dict[str, Any] = await visit.api.get(
        "auth", "/auth/users", {"q": q.strip() or None, "limit": 50, "offset": offset}
    )
    return visit.render("users/list.html", q=q, page=page, page_title="users.title")


PAGE = Page(router, NavItem("nav.users", "/users", PERMISSION, order=500))
