"""User administration and the audit log (users:manage, audit:read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from aicc.auth import audit
from aicc.auth.dependencies import Service, actor_of
from aicc.auth.schemas import (
    AdminUserUpdate,
    AuditPage,
    PasswordReset,
    PasswordResetOut,
    RolesUpdate,
    SessionOut,
    SessionsEnded,
    UserDetail,
    UserOut,
    UserPage,
)
from aicc.core.errors import ValidationFailed
from aicc.core.permissions import parse_role
from aicc.core.security import require_permission
from aicc.core.tokens import Principal

router = APIRouter(
    tags=["admin"],
    responses={401: {"description": "Not authenticated"}, 403: {"description": "Not permitted"}},
)
Admin = Annotated[Principal, Depends(require_permission("users:manage"))]
Auditor = Annotated[Principal, Depends(require_permission("audit:read"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=2**62)]


@router.get("/auth/users", response_model=UserPage, summary="Search users")
async def list_users(
    _: Admin,
    service: Service,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: str | None = None,
    is_active: bool | None = None,
    user_id: Annotated[
        list[str] | None,
        Query(alias="id", max_length=200, description="Only these users (repeat the parameter)"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    try:
        wanted_role = parse_role(role) if role else None
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_role") from None
    items, total = await service.list_users(
        query=q, role=wanted_role, is_active=is_active, ids=user_id, limit=limit, offset=offset
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/auth/users/{user_id}",
    response_model=UserDetail,
    summary="One user, with whether failed sign-ins locked the account",
)
async def get_user(user_id: str, _: Admin, service: Service) -> dict[str, Any]:
    found = await service.get_user(user_id)
    return {**found, "locked": await service.is_locked(found["username"])}


@router.get(
    "/auth/users/{user_id}/sessions",
    response_model=list[SessionOut],
    summary="A user's active sessions (current: the caller's own)",
)
async def user_sessions(user_id: str, caller: Admin, service: Service) -> list[dict[str, Any]]:
    await service.get_user(user_id)
    found = await service.list_sessions(user_id)
    return [{**s, "current": s["id"] == caller.session_id} for s in found]


@router.patch("/auth/users/{user_id}", response_model=UserOut, summary="Change profile fields")
async def update_user(
    user_id: str, body: AdminUserUpdate, request: Request, caller: Admin, service: Service
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return await service.update_user(
        user_id, changes, caller=caller, actor=actor_of(request, caller)
    )


@router.delete(
    "/auth/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user"
)
async def delete_user(user_id: str, request: Request, caller: Admin, service: Service) -> Response:
    await service.delete_user(user_id, caller=caller, actor=actor_of(request, caller))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/auth/users/{user_id}/roles", response_model=UserOut, summary="Replace roles")
async def set_roles(
    user_id: str, body: RolesUpdate, request: Request, caller: Admin, service: Service
) -> dict[str, Any]:
    return await service.set_user_roles(
        user_id, body.roles, caller=caller, actor=actor_of(request, caller)
    )


@router.post("/auth/users/{user_id}/disable", response_model=UserOut, summary="Disable")
async def disable_user(
    user_id: str, request: Request, caller: Admin, service: Service
) -> dict[str, Any]:
    return await service.set_user_active(
        user_id, False, caller=caller, actor=actor_of(request, caller)
    )


@router.post("/auth/users/{user_id}/enable", response_model=UserOut, summary="Enable")
async def enable_user(
    user_id: str, request: Request, caller: Admin, service: Service
) -> dict[str, Any]:
    return await service.set_user_active(
        user_id, True, caller=caller, actor=actor_of(request, caller)
    )


@router.post(
    "/auth/users/{user_id}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Lift a lockout after failed logins",
)
async def unlock_user(user_id: str, request: Request, caller: Admin, service: Service) -> Response:
    await service.unlock_user(user_id, caller=caller, actor=actor_of(request, caller))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/users/{user_id}/password-reset",
    response_model=PasswordResetOut,
    summary="Set or generate a new password; ends every session of the user",
)
async def reset_password(
    user_id: str,
    request: Request,
    caller: Admin,
    service: Service,
    body: PasswordReset | None = None,
) -> PasswordResetOut:
    password = body.password if body is not None else None
    generated = await service.reset_password(
        user_id,
        password,
        caller=caller,
        actor=actor_of(request, caller),
        temporary=body.temporary if body is not None else True,
    )
    return PasswordResetOut(generated_password=generated)


@router.delete(
    "/auth/users/{user_id}/sessions",
    response_model=SessionsEnded,
    summary="End every session of a user",
)
async def end_user_sessions(
    user_id: str, request: Request, caller: Admin, service: Service
) -> SessionsEnded:
    ended = await service.end_sessions_of_user(
        user_id, caller=caller, actor=actor_of(request, caller)
    )
    return SessionsEnded(ended=ended)


@router.get("/auth/audit", response_model=AuditPage, summary="Security events, newest first")
async def audit_log(
    _: Auditor,
    service: Service,
    event: str | None = None,
    outcome: str | None = None,
    actor_id: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="Only events older than this id (the next page)"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    items, total = await audit.search(
        service.resources.database,
        event=event,
        outcome=outcome,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        before=before,
        limit=limit,
        offset=offset,
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}
