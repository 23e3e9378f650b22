"""The signed-in user: profile, password, sessions and MFA."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from aicc.auth.dependencies import Service, actor_of
from aicc.auth.schemas import (
    MeOut,
    PasswordChange,
    PasswordConfirm,
    ProfileUpdate,
    RecoveryCodes,
    SessionOut,
    SessionsEnded,
    TokenResponse,
    TotpCode,
    TotpEnrollment,
)
from aicc.core.security import CurrentPrincipal, authenticated_for_enrollment
from aicc.core.tokens import Principal

router = APIRouter(tags=["me"], responses={401: {"description": "Not authenticated"}})
EnrollingPrincipal = Annotated[Principal, Depends(authenticated_for_enrollment)]


@router.get("/auth/me", response_model=MeOut, summary="The signed-in user")
async def me(principal: EnrollingPrincipal, service: Service) -> dict[str, Any]:
    return await service.me(principal)


@router.patch("/auth/me", response_model=MeOut, summary="Change one's own profile fields")
async def update_me(
    body: ProfileUpdate, request: Request, principal: CurrentPrincipal, service: Service
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return await service.update_me(principal, changes, actor=actor_of(request, principal))


@router.post(
    "/auth/password",
    response_model=TokenResponse,
    summary="Change one's password; every session ends and a new one starts",
)
async def change_password(
    body: PasswordChange, request: Request, principal: EnrollingPrincipal, service: Service
) -> dict[str, Any]:
    return await service.change_password(
        principal,
        body.current_password,
        body.new_password,
        actor=actor_of(request, principal),
    )


@router.get("/auth/sessions", response_model=list[SessionOut], summary="One's active sessions")
async def list_sessions(principal: CurrentPrincipal, service: Service) -> list[dict[str, Any]]:
    found = await service.list_sessions(principal.user_id)
    return [{**s, "current": s["id"] == principal.session_id} for s in found]


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End one session (one's own; anyone's with users:manage)",
)
async def end_session(
    session_id: str, request: Request, principal: CurrentPrincipal, service: Service
) -> Response:
    await service.end_session(principal, session_id, actor=actor_of(request, principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/auth/sessions", response_model=SessionsEnded, summary="End all one's other sessions"
)
async def end_other_sessions(
    request: Request, principal: CurrentPrincipal, service: Service
) -> SessionsEnded:
    ended = await service.end_other_sessions(principal, actor=actor_of(request, principal))
    return SessionsEnded(ended=ended)


@router.post(
    "/auth/mfa/totp",
    response_model=TotpEnrollment,
    summary="Start TOTP enrolment: a secret and its otpauth:// URI",
)
async def start_totp(
    request: Request, principal: EnrollingPrincipal, service: Service
) -> dict[str, str]:
    return await service.start_totp_enrollment(principal, actor=actor_of(request, principal))


@router.post(
    "/auth/mfa/totp/confirm",
    response_model=RecoveryCodes,
    summary="Activate TOTP with a current code; returns ten recovery codes, once",
)
async def confirm_totp(
    body: TotpCode, request: Request, principal: EnrollingPrincipal, service: Service
) -> RecoveryCodes:
    codes = await service.confirm_totp_enrollment(
        principal, body.code, actor=actor_of(request, principal)
    )
    return RecoveryCodes(recovery_codes=codes)


@router.delete(
    "/auth/mfa/totp",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Turn TOTP off (needs the password again)",
)
async def disable_totp(
    body: PasswordConfirm, request: Request, principal: CurrentPrincipal, service: Service
) -> Response:
    await service.disable_totp(principal, body.password, actor=actor_of(request, principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
