"""Single sign-on through configured OpenID Connect providers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from aicc.auth.dependencies import Service, actor_of
from aicc.auth.schemas import TokenResponse

router = APIRouter(tags=["sso"])
Param = Annotated[str | None, Query(max_length=2048)]


@router.get(
    "/auth/sso/{provider}/login",
    status_code=302,
    response_class=RedirectResponse,
    summary="Redirect to the identity provider (authorization code + PKCE)",
)
async def sso_login(provider: str, service: Service) -> RedirectResponse:
    return RedirectResponse(await service.sso_login_url(provider), status_code=302)


@router.get(
    "/auth/sso/{provider}/callback",
    response_model=TokenResponse,
    summary="Where the identity provider sends the browser back; returns the token pair",
)
async def sso_callback(
    provider: str,
    request: Request,
    service: Service,
    code: Param = None,
    state: Param = None,
    error: Param = None,
) -> dict[str, Any]:
    actor = actor_of(request)
    return await service.sso_callback(
        provider,
        code=code,
        state=state,
        error=error,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )
