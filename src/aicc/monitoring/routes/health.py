"""The watched services' health and this machine's metrics as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.monitoring.service import MonitoringService

router = APIRouter(tags=["services"])
Reader = Annotated[Principal, Depends(require_permission("metrics:read"))]


def _service(request: Request) -> MonitoringService:
    service: MonitoringService = request.app.state.aicc_service
    return service


Service = Annotated[MonitoringService, Depends(_service)]


@router.get("/services/health", summary="Each service's health, readiness and last scrape")
async def services_health(service: Service, _: Reader) -> dict[str, Any]:
    return await service.services_health()


@router.get("/metrics/system", summary="CPU, memory and disk now (the spec's names)")
async def system(service: Service, _: Reader) -> dict[str, float]:
    return service.system_metrics()
