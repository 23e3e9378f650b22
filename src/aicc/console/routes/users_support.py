"""What the users pages share: the roles and which of them the signed-in user may grant, the
auth service's refusals as messages for the form that caused them, and the temporary
password kept sealed in the session until the next page shows it once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path
from fastapi.responses import RedirectResponse

from aicc.console.dependencies import Visit, require
from aicc.console.errors import NotAllowed, PageNotFound, UpstreamError
from aicc.console.rendering import NO_STORE
from aicc.console.sessions import SessionData, SignedInUser
from aicc.core.permissions import ROLE_RANK, Role, highest_rank

T = TypeVar("T")
PERMISSION = "users:manage"
Admin = Annotated[Visit, Depends(require(PERMISSION))]
UserId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{36}$")]
"""Auth's user ids are UUIDs; anything else never reaches the service's URL."""
EXTRA_KEY = "users:shown-once"
"""``SessionData.extra`` key of a generated password waiting to be shown."""

ROLES: tuple[str, ...] = tuple(r.value for r in sorted(Role, key=lambda r: ROLE_RANK[r]))
"""Lowest first, as the forms list them."""
ROLE_KEYS = {
    "VIEWER": "users.role_VIEWER",
    "AGENT": "users.role_AGENT",
    "SUPERVISOR": "users.role_SUPERVISOR",
    "ADMIN": "users.role_ADMIN",
    "SUPER_ADMIN": "users.role_SUPER_ADMIN",
}
PROBLEMS = {
    "role_not_allowed": "users.error_role_not_allowed",
    "last_super_admin": "users.error_last_super_admin",
    "user_exists": "users.error_user_exists",
    "invalid_role": "users.error_invalid_role",
    "session_not_found": "users.error_session_not_found",
    "password_too_short": "users.error_password_too_short",
    "password_too_long": "users.error_password_too_long",
    "password_common": "users.error_password_common",
    "password_contains_username": "users.error_password_contains_username",
    "password_invalid": "users.error_password_invalid",
}
FIELD_PROBLEMS = {
    "username": "users.error_username",
    "email": "users.error_email",
    "first_name": "users.error_name",
    "last_name": "users.error_name",
    "password": "users.error_password_invalid",
    "roles": "users.error_invalid_role",
}


def grantable(user: SignedInUser | None) -> frozenset[str]:
    """The roles auth lets this user grant (the same rule; auth decides in the end)."""
    if user is None:
        return frozenset()
    if Role.SUPER_ADMIN.value in user.roles:
        return frozenset(ROLES)
    ceiling = min(highest_rank(user.roles), ROLE_RANK[Role.ADMIN])
    return frozenset(r.value for r in Role if ROLE_RANK[r] < ceiling)


def role_options(visit: Visit, chosen: list[str]) -> list[dict[str, Any]]:
    allowed = grantable(visit.user)
    return [
        {
            "name": role,
            "label": visit.t(ROLE_KEYS[role]),
            "checked": role in chosen,
            "allowed": role in allowed,
        }
        for role in ROLES
    ]


@dataclass(frozen=True)
class Problem:
    """A refusal to show next to a form: our message, and the service's own words."""

    message: str
    said: str | None
    status: int


def problem_of(visit: Visit, exc: UpstreamError | NotAllowed) -> Problem:
    """The form message for a refusal. A 403 other than the role hierarchy's (a missing
    permission) and an unknown user are not form problems: they are raised as pages."""
    if isinstance(exc, NotAllowed):
        if exc.code != "role_not_allowed":
            raise exc
        return Problem(visit.t(PROBLEMS["role_not_allowed"]), exc.detail, 403)
    if exc.code == "user_not_found":
        raise PageNotFound(exc.message)
    key = PROBLEMS.get(exc.code)
    if key is None and exc.code == "validation_error":
        key = _field_problem(exc.details)
    return Problem(visit.t(key or "users.error_other"), exc.message or None, exc.status)


def _field_problem(details: Any) -> str | None:
    for item in details if isinstance(details, list) else []:
        where = item.get("loc") if isinstance(item, dict) else None
        if isinstance(where, list) and where and str(where[-1]) in FIELD_PROBLEMS:
            return FIELD_PROBLEMS[str(where[-1])]
        if isinstance(where, list) and len(where) >= 2 and str(where[-2]) == "roles":
            return FIELD_PROBLEMS["roles"]
    return None


async def attempt(visit: Visit, call: Callable[[], Awaitable[T]]) -> T | Problem:
    """The call's result, or the refusal as a :class:`Problem` for the form."""
    try:
        return await call()
    except (UpstreamError, NotAllowed) as exc:
        return problem_of(visit, exc)


def go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def keep_secret(visit: Visit, user_id: str, password: str, *, temporary: bool) -> None:
    def keep(data: SessionData) -> None:
        data.extra[EXTRA_KEY] = {"user": user_id, "password": password, "temporary": temporary}

    await visit.update(keep)


async def take_secret(visit: Visit, user_id: str) -> dict[str, Any] | None:
    """The generated password for this user's page, once (then forgotten)."""
    session = visit.session
    waiting = session.extra.get(EXTRA_KEY) if session is not None else None
    if not isinstance(waiting, dict) or waiting.get("user") != user_id:
        return None

    def forget(data: SessionData) -> None:
        data.extra.pop(EXTRA_KEY, None)

    await visit.update(forget)
    return waiting
