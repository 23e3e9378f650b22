"""Notification channels, the routing configuration and silences under ``/alerts``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from aicc.monitoring.alertmanager import RoutingConfig
from aicc.monitoring.notify_channels import channel_view
from aicc.monitoring.routes.common import (
    AlertsManager,
    AlertsReader,
    Service,
    json_body,
    wants_yaml,
)

router = APIRouter(prefix="/alerts", tags=["notification"])
ChannelName = Annotated[str, Path(min_length=1, max_length=100)]
SilenceId = Annotated[str, Path(min_length=1, max_length=100)]


@router.post("/channels", status_code=201, summary="Add a notification channel")
async def create_channel(request: Request, service: Service, _: AlertsManager) -> dict[str, Any]:
    return channel_view(await service.create_channel(await json_body(request)))


@router.get("/channels", summary="Notification channels (secrets masked)")
async def list_channels(service: Service, _: AlertsReader) -> dict[str, Any]:
    return {"channels": [channel_view(row) for row in await service.list_channels()]}


@router.get("/channels/{name}", summary="One channel (secrets masked)")
async def read_channel(name: ChannelName, service: Service, _: AlertsReader) -> dict[str, Any]:
    return channel_view(await service.get_channel(name))


@router.put("/channels/{name}", summary="Change a channel (masked secrets are kept)")
async def update_channel(
    name: ChannelName, request: Request, service: Service, _: AlertsManager
) -> dict[str, Any]:
    return channel_view(await service.update_channel(name, await json_body(request)))


@router.delete("/channels/{name}", status_code=204, summary="Delete a channel no route uses")
async def delete_channel(name: ChannelName, service: Service, _: AlertsManager) -> Response:
    await service.delete_channel(name)
    return Response(status_code=204)


@router.post("/channels/{name}/test", summary="Send a test notification now")
async def test_channel(name: ChannelName, service: Service, _: AlertsManager) -> dict[str, Any]:
    return await service.test_channel(name)


@router.get("/routing", summary="Route tree and inhibit rules (JSON, or YAML on request)")
async def read_routing(request: Request, service: Service, _: AlertsReader) -> Any:
    config = await service.routing()
    if wants_yaml(request.headers.get("accept")):
        return Response(config.to_yaml(), media_type="application/yaml")
    return config.to_json()


@router.put("/routing", summary="Replace the route tree and inhibit rules (JSON or YAML)")
async def write_routing(request: Request, service: Service, _: AlertsManager) -> Any:
    if wants_yaml(request.headers.get("content-type")):
        config = RoutingConfig.from_yaml(await request.body())
    else:
        config = RoutingConfig.from_json(await json_body(request))
    saved = await service.set_routing(config)
    if wants_yaml(request.headers.get("accept")):
        return Response(saved.to_yaml(), media_type="application/yaml")
    return saved.to_json()


@router.post("/silences", summary="Create or update a silence (Alertmanager API v2 body)")
async def create_silence(
    request: Request, service: Service, caller: AlertsManager
) -> dict[str, Any]:
    silence = await service.create_silence(
        await json_body(request), created_by=caller.username or caller.user_id
    )
    return {"silenceID": silence.id, **silence.to_api(time.time())}


@router.get("/silences", summary="Silences, expired ones included")
async def list_silences(
    service: Service,
    _: AlertsReader,
    filters: Annotated[list[str] | None, Query(alias="filter")] = None,
) -> list[dict[str, Any]]:
    now = time.time()
    return [s.to_api(now) for s in await service.list_silences(filters or [])]


@router.get("/silences/{silence_id}", summary="One silence")
async def read_silence(silence_id: SilenceId, service: Service, _: AlertsReader) -> dict[str, Any]:
    return (await service.get_silence(silence_id)).to_api(time.time())


@router.delete("/silences/{silence_id}", summary="Expire a silence (it stays listed)")
async def expire_silence(
    silence_id: SilenceId, service: Service, _: AlertsManager
) -> dict[str, Any]:
    return (await service.expire_silence(silence_id)).to_api(time.time())
