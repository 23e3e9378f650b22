"""Alertmanager's API v2, so its ecosystem works against this service: ``amtool``, Grafana's
Alertmanager data source, and Prometheus pushing alerts (``alerting.alertmanagers`` with
``api_version: v2`` and a bearer token). Same permissions as ``/alerts``: ``alerts:read``
to read, ``alerts:manage`` to change."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from aicc import __version__
from aicc.core.errors import BadRequest, ValidationFailed
from aicc.monitoring.alert_views import AlertFilter
from aicc.monitoring.alertmanager import format_time
from aicc.monitoring.routes.common import AlertsManager, AlertsReader, Service, json_body

router = APIRouter(prefix="/api/v2", tags=["alertmanager-api-v2"])
SilenceId = Annotated[str, Path(min_length=1, max_length=100)]
Filters = Annotated[list[str] | None, Query(alias="filter")]


def _bad_request(exc: ValidationFailed) -> BadRequest:
    """Alertmanager answers invalid input with 400."""
    return BadRequest(exc.message, code=exc.error_code, details=exc.details)


@router.get("/status", summary="Alertmanager's status: cluster, version, configuration")
async def status(service: Service, _: AlertsReader) -> dict[str, Any]:
    routing = await service.routing()
    return {
        "cluster": {"name": "aicc-monitoring", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": __version__,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": {"original": routing.to_yaml()},
        "uptime": format_time(service.started_at or time.time()),
    }


def _where(
    filters: list[str] | None, active: bool, silenced: bool, inhibited: bool, receiver: str | None
) -> AlertFilter:
    try:
        return AlertFilter.parse(
            filters or [],
            active=active,
            silenced=silenced,
            inhibited=inhibited,
            receiver=receiver,
        )
    except ValidationFailed as exc:
        raise _bad_request(exc) from None


@router.get("/alerts", summary="Alerts not resolved, with receivers and what mutes them")
async def list_alerts(
    service: Service,
    _: AlertsReader,
    filters: Filters = None,
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    where = _where(filters, active, silenced, inhibited, receiver)
    return await service.list_alerts(where)


@router.get("/alerts/groups", summary="Aggregation groups with their alerts")
async def list_alert_groups(
    service: Service,
    _: AlertsReader,
    filters: Filters = None,
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    receiver: str | None = None,
) -> list[dict[str, Any]]:
    where = _where(filters, active, silenced, inhibited, receiver)
    return await service.list_alert_groups(where)


@router.post("/alerts", summary="Push alerts (as Prometheus does)")
async def push_alerts(request: Request, service: Service, _: AlertsManager) -> Response:
    try:
        await service.push_alerts(await json_body(request))
    except ValidationFailed as exc:
        raise _bad_request(exc) from None
    return Response(status_code=200)


@router.get("/silences", summary="Silences, expired ones included")
async def list_silences(
    service: Service, _: AlertsReader, filters: Filters = None
) -> list[dict[str, Any]]:
    try:
        found = await service.list_silences(filters or [])
    except ValidationFailed as exc:
        raise _bad_request(exc) from None
    now = time.time()
    return [s.to_api(now) for s in found]


@router.post("/silences", summary="Create or update a silence")
async def create_silence(
    request: Request, service: Service, caller: AlertsManager
) -> dict[str, str]:
    try:
        silence = await service.create_silence(
            await json_body(request), created_by=caller.username or caller.user_id
        )
    except ValidationFailed as exc:
        raise _bad_request(exc) from None
    return {"silenceID": silence.id}


@router.get("/silence/{silence_id}", summary="One silence")
async def read_silence(silence_id: SilenceId, service: Service, _: AlertsReader) -> dict[str, Any]:
    return (await service.get_silence(silence_id)).to_api(time.time())


@router.delete("/silence/{silence_id}", summary="Expire a silence")
async def expire_silence(silence_id: SilenceId, service: Service, _: AlertsManager) -> Response:
    await service.expire_silence(silence_id)
    return Response(status_code=200)
