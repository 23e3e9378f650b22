"""Registration, login, token refresh, logout, and the key discovery documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from aicc.auth.dependencies import Service, actor_of
from aicc.auth.schemas import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
)
from aicc.core.errors import Forbidden, Unauthorized
from aicc.core.security import authenticated_for_enrollment, optional_principal
from aicc.core.service import hs256_secret
from aicc.core.tokens import Principal

router = APIRouter(tags=["auth"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated (see error.code)"},
    403: {"description": "Not permitted"},
    422: {"description": "Invalid body"},
}


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    responses=ERRORS | {409: {"description": "Username or email taken"}},
    summary="Create a user (needs users:manage; self-registration when enabled)",
)
async def register(
    body: RegisterRequest,
    request: Request,
    service: Service,
    caller: Annotated[Principal | None, Depends(optional_principal)],
) -> RegisterResponse:
    roles = body.roles
    if caller is None:
        if not service.settings.auth.self_registration:
            raise Unauthorized(
                "Sign in as an administrator to register users", code="missing_token"
            )
        roles = None
    elif "users:manage" not in caller.permissions or caller.mfa_enrollment_only:
        raise Forbidden("Missing permission: users:manage", code="permission_denied")
    user_id = await service.register_user(
        body.username,
        body.email,
        body.password,
        roles,
        first_name=body.first_name,
        last_name=body.last_name,
        caller=caller,
        actor=actor_of(request, caller),
        temporary=body.temporary and caller is not None,
    )
    user = await service.get_user(user_id)
    return RegisterResponse(user_id=user_id, username=user["username"], roles=user["roles"])


@router.post(
    "/auth/login",
    response_model=TokenResponse,
    responses=ERRORS | {429: {"description": "Too many failed logins from this address"}},
    summary="Sign in with username, password and (when enrolled) an MFA code",
)
async def login(body: LoginRequest, request: Request, service: Service) -> dict[str, Any]:
    actor = actor_of(request)
    return await service.authenticate_user(
        body.username,
        body.password,
        actor.ip_address,
        body.mfa_token,
        user_agent=actor.user_agent,
    )


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    responses=ERRORS,
    summary="Exchange a refresh token for a new pair (single use; reuse revokes the session)",
)
async def refresh(body: RefreshRequest, request: Request, service: Service) -> dict[str, Any]:
    actor = actor_of(request)
    return await service.refresh_token(
        body.refresh_token, ip_address=actor.ip_address, user_agent=actor.user_agent
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    summary="End this session everywhere",
)
async def logout(
    request: Request,
    service: Service,
    principal: Annotated[Principal, Depends(authenticated_for_enrollment)],
) -> Response:
    await service.logout(principal, actor=actor_of(request, principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(service: Service, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return service.jwks


@router.get("/.well-known/openid-configuration", summary="Issuer and key discovery")
async def openid_configuration(service: Service) -> dict[str, Any]:
    issuer = service.settings.token_issuer
    algorithms = ["HS256"] if hs256_secret(service.settings) else ["EdDSA"]
    return {
        "issuer": issuer,
        "jwks_uri": f"{service.settings.auth_url}/.well-known/jwks.json",
        "token_endpoint": f"{service.settings.auth_url}/auth/login",
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }
