"""``/webhooks/{integration_id}``: public, but every request is verified per provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from aicc.integration.connectors.base import WebhookRequest
from aicc.integration.dependencies import IntegrationIdPath, Service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def _incoming(request: Request) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        url=str(request.url),
    )


@router.get("/{integration_id}", summary="A provider's verification handshake")
async def handshake(
    integration_id: IntegrationIdPath, request: Request, service: Service
) -> Response:
    reply = await service.webhook_handshake(integration_id, await _incoming(request))
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


@router.post("/{integration_id}", summary="Receive provider events (verified, stored once each)")
async def receive(
    integration_id: IntegrationIdPath, request: Request, service: Service
) -> dict[str, Any]:
    return await service.receive_webhook(integration_id, await _incoming(request))
