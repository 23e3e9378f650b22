"""Registering, reading, changing and removing integrations; providers; health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from aicc.integration.dependencies import IntegrationIdPath, Manager, Reader, Service
from aicc.integration.schemas import IntegrationConfig, IntegrationUpdate

router = APIRouter(prefix="/integrations", tags=["integrations"])


@router.post("", status_code=201, summary="Register an integration")
async def register(body: IntegrationConfig, service: Service, caller: Manager) -> dict[str, Any]:
    return await service.register_integration(body, caller=caller)


@router.get("", summary="List integrations")
async def listing(service: Service, _: Reader) -> dict[str, Any]:
    return {"integrations": await service.list_integrations()}


@router.get("/providers", summary="Providers, their auth types and methods with parameters")
async def providers(service: Service, _: Reader) -> dict[str, Any]:
    return {"providers": service.providers()}


@router.get("/{integration_id}", summary="One integration (secrets masked)")
async def read(integration_id: IntegrationIdPath, service: Service, _: Reader) -> dict[str, Any]:
    return await service.get_integration(integration_id)


@router.patch("/{integration_id}", summary="Change settings or replace secrets")
async def change(
    integration_id: IntegrationIdPath, body: IntegrationUpdate, service: Service, _: Manager
) -> dict[str, Any]:
    return await service.update_integration(integration_id, body)


@router.delete("/{integration_id}", status_code=204, summary="Remove an integration")
async def remove(integration_id: IntegrationIdPath, service: Service, _: Manager) -> Response:
    await service.delete_integration(integration_id)
    return Response(status_code=204)


@router.get("/{integration_id}/health", summary="A cheap authenticated call to the provider")
async def health(integration_id: IntegrationIdPath, service: Service, _: Reader) -> dict[str, Any]:
    return await service.integration_health(integration_id)
