"""FastAPI dependencies that every service uses to authenticate and authorize a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aicc.core.errors import Forbidden, Unauthorized
from aicc.core.tokens import Principal, TokenVerifier

_bearer = HTTPBearer(auto_error=False, description="An access token from the auth service")


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.aicc_service.token_verifier
    return verifier


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer access token is required", code="missing_token")
    principal = await _verifier(request).verify(credentials.credentials)
    request.state.principal = principal
    return principal


async def authenticated_for_enrollment(
    principal: Annotated[Principal, Depends(_principal)],
) -> Principal:
    """Any valid token, including one that only allows enrolling MFA."""
    return principal


async def authenticated(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    """A valid token with full access (not an MFA-enrolment-only or password-change-only
    token)."""
    if principal.password_change_only:
        raise Forbidden("Change your password first", code="password_change_required")
    if principal.mfa_enrollment_only:
        raise Forbidden("Enrol MFA before using this route", code="mfa_enrollment_required")
    return principal


def require_permission(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 401 without a valid token and 403 without every permission."""
    needed = frozenset(permissions)

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        missing = needed - principal.permissions
        if missing:
            raise Forbidden(
                f"Missing permission: {', '.join(sorted(missing))}", code="permission_denied"
            )
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller's principal when a token is sent (and valid), None when none is sent."""
    if credentials is None:
        return None
    return await _principal(request, credentials)
