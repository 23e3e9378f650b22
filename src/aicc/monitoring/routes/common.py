"""What the notification routes share: the service, permissions and body reading."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from aicc.core.errors import ValidationFailed
from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.monitoring.service import MonitoringService


def _service(request: Request) -> MonitoringService:
    service: MonitoringService = request.app.state.aicc_service
    return service


Service = Annotated[MonitoringService, Depends(_service)]
AlertsReader = Annotated[Principal, Depends(require_permission("alerts:read"))]
AlertsManager = Annotated[Principal, Depends(require_permission("alerts:manage"))]


async def json_body(request: Request) -> Any:
    """The request body as JSON; anything else is a 422 ``invalid_json``."""
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationFailed("the body is not valid JSON", code="invalid_json") from None


def wants_yaml(header: str | None) -> bool:
    """Whether a ``Content-Type`` (or the first type of an ``Accept``) is YAML."""
    media = (header or "").split(",")[0].split(";")[0].strip().lower()
    return media in {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
