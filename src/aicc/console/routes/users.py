"""Users (``users:manage``): search by name, email, role and status, page by page; create a
user with roles and a temporary password (generated and shown once, or typed)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Form, Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit
from aicc.console.navigation import NavItem, Page
from aicc.console.routes.users_support import (
    PERMISSION,
    ROLES,
    Admin,
    Problem,
    attempt,
    go,
    keep_secret,
    role_options,
)
from aicc.console.routing import page_router

router = page_router()
PAGE_SIZE = 50
STATUSES = {"active": True, "disabled": False}
Text = Annotated[str, Form(max_length=320)]
Secret = Annotated[str, Form(max_length=1024)]


@router.get("/users")
async def users(
    visit: Admin,
    q: Annotated[str, Query(max_length=100)] = "",
    role: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    q = q.strip()
    role = role if role in ROLES else ""
    status = status if status in STATUSES else ""
    page: dict[str, Any] = await visit.api.get(
        "auth",
        "/auth/users",
        {
            "q": q or None,
            "role": role or None,
            "is_active": str(STATUSES[status]).lower() if status else None,
            "limit": PAGE_SIZE,
            "offset": offset,
        },
    )
    filters = {k: v for k, v in (("q", q), ("role", role), ("status", status)) if v}

    def link(at: int) -> str:
        return "/users?" + urlencode({**filters, "offset": at}) if at else _first(filters)

    total = int(page.get("total", 0))
    shown = len(page.get("items", []))
    return visit.render(
        "users/list.html",
        q=q,
        role=role,
        status_filter=status,
        roles=ROLES,
        page=page,
        first=offset + 1 if shown else 0,
        last=offset + shown,
        previous_url=link(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        next_url=link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        filtered=bool(filters),
        notice=await visit.take_notice(),
        page_title="users.title",
    )


def _first(filters: dict[str, str]) -> str:
    return "/users?" + urlencode(filters) if filters else "/users"


def _new_page(
    visit: Visit,
    *,
    form: dict[str, Any] | None = None,
    problem: Problem | None = None,
) -> Response:
    values = form or {
        **dict.fromkeys(("username", "email", "first_name", "last_name"), ""),
        "roles": ["AGENT"],
        "mode": "generate",
        "temporary": True,
    }
    return visit.render(
        "users/new.html",
        status=problem.status if problem else 200,
        form=values,
        problem=problem,
        role_options=role_options(visit, list(values.get("roles", []))),
        page_title="users.create_title",
    )


@router.get("/users/new")
async def new_user(visit: Admin) -> Response:
    return _new_page(visit)


@router.post("/users/new")
async def create_user(
    visit: Admin,
    username: Text = "",
    email: Text = "",
    first_name: Text = "",
    last_name: Text = "",
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
    mode: Annotated[Literal["generate", "set"], Form()] = "generate",
    password: Secret = "",
    confirm_password: Secret = "",
    temporary: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    form = {
        "username": username.strip(),
        "email": email.strip(),
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "roles": [r for r in roles or [] if r],
        "mode": mode,
        "temporary": temporary is not None,
    }

    def refuse(key: str) -> Response:
        return _new_page(visit, form=form, problem=Problem(visit.t(key), None, 422))

    if not form["username"] or not form["email"]:
        return refuse("users.missing")
    if not form["roles"]:
        return refuse("users.roles_pick")
    if mode == "set" and not password:
        return refuse("users.password_missing")
    if mode == "set" and password != confirm_password:
        return refuse("users.password_mismatch")
    chosen = password if mode == "set" else secrets.token_urlsafe(15)
    body = {
        "username": form["username"],
        "email": form["email"],
        "first_name": form["first_name"],
        "last_name": form["last_name"],
        "roles": form["roles"],
        "password": chosen,
        "temporary": form["temporary"],
    }
    created = await attempt(visit, lambda: visit.api.post("auth", "/auth/register", body))
    if isinstance(created, Problem):
        return _new_page(visit, form=form, problem=created)
    user_id = str(created["user_id"])
    if mode == "generate":
        await keep_secret(visit, user_id, chosen, temporary=bool(form["temporary"]))
    await visit.leave_notice("users.created")
    return go(f"/users/{user_id}")


PAGE = Page(router, NavItem("nav.users", "/users", PERMISSION, order=500))
