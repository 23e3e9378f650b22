"""The latest Amazon Connect snapshot and the CloudWatch publisher's state, as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.monitoring.service import MonitoringService

router = APIRouter(tags=["connect"])
Reader = Annotated[Principal, Depends(require_permission("metrics:read"))]


def _service(request: Request) -> MonitoringService:
    service: MonitoringService = request.app.state.aicc_service
    return service


Service = Annotated[MonitoringService, Depends(_service)]


@router.get(
    "/connect/metrics",
    summary="The latest Amazon Connect snapshot: queues by channel, agent states, poll status",
    responses={404: {"description": "Amazon Connect is not configured (connect_not_configured)"}},
)
async def connect_metrics(service: Service, _: Reader) -> dict[str, Any]:
    return await service.connect_metrics()


@router.get(
    "/metrics/cloudwatch",
    summary="CloudWatch publishing: enabled, namespace, the last publication's result",
)
async def cloudwatch(service: Service, _: Reader) -> dict[str, Any]:
    return await service.cloudwatch_status()
