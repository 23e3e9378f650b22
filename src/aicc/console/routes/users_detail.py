"""One user (``users:manage``): profile and state, roles, disable/enable, unlock, password
reset (temporary by default), the user's sessions (end one or all). Every change goes to the
auth service, which enforces the role hierarchy; its refusals are shown at the form."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Form, Path
from fastapi.responses import Response

from aicc.console.dependencies import Visit
from aicc.console.errors import PageNotFound, UpstreamError
from aicc.console.navigation import Page
from aicc.console.routes.users_support import (
    Admin,
    Problem,
    UserId,
    attempt,
    go,
    keep_secret,
    role_options,
    take_secret,
)
from aicc.console.routing import page_router
from aicc.console.signin import sign_out

router = page_router()
SessionId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Secret = Annotated[str, Form(max_length=1024)]


async def _load(visit: Visit, user_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        user, sessions = await asyncio.gather(
            visit.api.get("auth", f"/auth/users/{user_id}"),
            visit.api.get("auth", f"/auth/users/{user_id}/sessions"),
        )
    except UpstreamError as exc:
        if exc.code == "user_not_found":
            raise PageNotFound(exc.message) from None
        raise
    sessions.sort(key=lambda s: str(s.get("last_used_at") or ""), reverse=True)
    return user, sessions


async def _page(
    visit: Visit,
    user_id: str,
    *,
    problems: dict[str, Problem] | None = None,
    chosen_roles: list[str] | None = None,
) -> Response:
    user, sessions = await _load(visit, user_id)
    problems = problems or {}
    status = next((p.status for p in problems.values()), 200)
    me = visit.user
    return visit.render(
        "users/detail.html",
        status=status,
        subject=user,
        sessions=sessions,
        myself=me is not None and me.user_id == user_id,
        role_options=role_options(
            visit, chosen_roles if chosen_roles is not None else user["roles"]
        ),
        problems=problems,
        secret=await take_secret(visit, user_id),
        can_audit=me is not None and me.can("audit:read"),
        notice=await visit.take_notice(),
        page_title="users.title",
    )


@router.get("/users/{user_id}")
async def user_page(visit: Admin, user_id: UserId) -> Response:
    return await _page(visit, user_id)


async def _act(
    visit: Visit,
    user_id: str,
    form: str,
    call: Callable[[], Awaitable[Any]],
    notice: str,
    **page: Any,
) -> Response:
    done = await attempt(visit, call)
    if isinstance(done, Problem):
        return await _page(visit, user_id, problems={form: done}, **page)
    await visit.leave_notice(notice)
    return go(f"/users/{user_id}")


@router.post("/users/{user_id}/roles")
async def set_roles(
    visit: Admin,
    user_id: UserId,
    roles: Annotated[list[str] | None, Form(max_length=5)] = None,
) -> Response:
    chosen = [r for r in roles or [] if r]
    if not chosen:
        problem = Problem(visit.t("users.roles_pick"), None, 422)
        return await _page(visit, user_id, problems={"roles": problem}, chosen_roles=[])
    return await _act(
        visit,
        user_id,
        "roles",
        lambda: visit.api.put("auth", f"/auth/users/{user_id}/roles", {"roles": chosen}),
        "users.roles_saved",
        chosen_roles=chosen,
    )


@router.post("/users/{user_id}/password")
async def reset_password(
    visit: Admin,
    user_id: UserId,
    mode: Annotated[Literal["generate", "set"], Form()] = "generate",
    password: Secret = "",
    confirm_password: Secret = "",
    temporary: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    def refuse(key: str) -> Problem:
        return Problem(visit.t(key), None, 422)

    if mode == "set" and not password:
        return await _page(visit, user_id, problems={"password": refuse("users.password_missing")})
    if mode == "set" and password != confirm_password:
        return await _page(visit, user_id, problems={"password": refuse("users.password_mismatch")})
    body: dict[str, Any] = {"temporary": temporary is not None}
    if mode == "set":
        body["password"] = password
    done = await attempt(
        visit, lambda: visit.api.post("auth", f"/auth/users/{user_id}/password-reset", body)
    )
    if isinstance(done, Problem):
        return await _page(visit, user_id, problems={"password": done})
    if _is_me(visit, user_id):  # every session of the user ended, this one too
        await sign_out(visit)
        return go("/login?bye=1")
    generated = done.get("generated_password") if isinstance(done, dict) else None
    if generated:
        await keep_secret(visit, user_id, str(generated), temporary=body["temporary"])
    await visit.leave_notice("users.reset_done")
    return go(f"/users/{user_id}")


@router.post("/users/{user_id}/sessions/end-all")
async def end_all_sessions(visit: Admin, user_id: UserId) -> Response:
    done = await attempt(visit, lambda: visit.api.delete("auth", f"/auth/users/{user_id}/sessions"))
    if isinstance(done, Problem):
        return await _page(visit, user_id, problems={"sessions": done})
    if _is_me(visit, user_id):
        await sign_out(visit)
        return go("/login?bye=1")
    await visit.leave_notice("users.sessions_ended")
    return go(f"/users/{user_id}")


@router.post("/users/{user_id}/sessions/{session_id}/end")
async def end_session(visit: Admin, user_id: UserId, session_id: SessionId) -> Response:
    me = visit.user
    if me is not None and session_id == me.auth_session_id:
        await sign_out(visit)
        return go("/login?bye=1")
    return await _act(
        visit,
        user_id,
        "sessions",
        lambda: visit.api.delete("auth", f"/auth/sessions/{session_id}"),
        "users.session_ended",
    )


# Last: "/users/{id}/password" and the others above must match first.
@router.post("/users/{user_id}/{action}")
async def account_action(
    visit: Admin, user_id: UserId, action: Literal["disable", "enable", "unlock"]
) -> Response:
    notices = {"disable": "users.disabled", "enable": "users.enabled", "unlock": "users.unlocked"}
    return await _act(
        visit,
        user_id,
        "account",
        lambda: visit.api.post("auth", f"/auth/users/{user_id}/{action}"),
        notices[action],
    )


def _is_me(visit: Visit, user_id: str) -> bool:
    return visit.user is not None and visit.user.user_id == user_id


PAGE = Page(router)
