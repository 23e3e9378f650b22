from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aicc.auth.audit import Actor
from aicc.auth.service import AuthService
from aicc.core.tokens import Principal


async def _service(request: Request) -> AuthService:
    service: AuthService = request.app.state.aicc_service
    return service


def actor_of(request: Request, principal: Principal | None = None) -> Actor:
    """Who is calling (if known) and from where, for the audit log."""
    return Actor(
        user_id=principal.user_id if principal is not None else None,
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


Service = Annotated[AuthService, Depends(_service)]
