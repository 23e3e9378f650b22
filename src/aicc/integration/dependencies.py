"""FastAPI dependencies of the integration routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.integration.service import IntegrationService


async def _service(request: Request) -> IntegrationService:
    service: IntegrationService = request.app.state.aicc_service
    return service


Service = Annotated[IntegrationService, Depends(_service)]
Reader = Annotated[Principal, Depends(require_permission("integrations:read"))]
Sender = Annotated[Principal, Depends(require_permission("integrations:send"))]
Manager = Annotated[Principal, Depends(require_permission("integrations:manage"))]
IntegrationIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$", description="An integration's id")
]
MessageIdPath = Annotated[str, Path(min_length=1, max_length=200, description="A message id")]
