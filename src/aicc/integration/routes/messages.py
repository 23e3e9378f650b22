"""Sending messages, the message log, dead letters and verified events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from aicc.core.errors import ValidationFailed
from aicc.integration.dependencies import (
    IntegrationIdPath,
    Manager,
    MessageIdPath,
    Reader,
    Sender,
    Service,
)
from aicc.integration.messages import STATUSES, Status
from aicc.integration.schemas import IntegrationMessage, MessageRequest, MessageType

router = APIRouter(prefix="/integrations/{integration_id}", tags=["messages"])
Limit = Annotated[int, Query(ge=1, le=500)]
Before = Annotated[datetime | None, Query(description="Continue after this created_at")]


@router.post(
    "/messages",
    summary="Send a message: SYNC answers with the provider's result, ASYNC queues it (202)",
    responses={202: {"description": "Queued"}, 502: {"description": "The provider failed"}},
)
async def send(
    integration_id: IntegrationIdPath,
    body: MessageRequest,
    service: Service,
    caller: Sender,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    if body.message_id and idempotency_key and body.message_id != idempotency_key:
        raise ValidationFailed(
            "message_id and the Idempotency-Key header differ", code="idempotency_key_mismatch"
        )
    message = IntegrationMessage(
        integration_id=integration_id,
        message_type=body.message_type,
        payload=body.payload,
        message_id=body.message_id or idempotency_key,
        timeout=body.timeout,
    )
    result = await service.send_message(message, caller=caller)
    queued = body.message_type is MessageType.ASYNC and not result.get("duplicate")
    response.status_code = 202 if queued else 200
    return result


@router.get("/messages", summary="The message log, newest first")
async def log(
    integration_id: IntegrationIdPath,
    service: Service,
    _: Reader,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Limit = 50,
    before: Before = None,
) -> dict[str, Any]:
    statuses = _statuses(status)
    items = await service.list_messages(
        integration_id, statuses=statuses, limit=limit, before=before
    )
    return {
        "messages": items,
        "next_before": items[-1]["created_at"] if len(items) == limit else None,
    }


@router.get("/messages/{message_id}", summary="One message with the provider's answer")
async def one(
    integration_id: IntegrationIdPath, message_id: MessageIdPath, service: Service, _: Reader
) -> dict[str, Any]:
    return await service.get_message(integration_id, message_id)


@router.get("/dead-letters", summary="Messages that failed for good, waiting for replay")
async def dead_letters(
    integration_id: IntegrationIdPath,
    service: Service,
    _: Reader,
    limit: Limit = 50,
    before: Before = None,
) -> dict[str, Any]:
    items = await service.dead_letters(integration_id, limit=limit, before=before)
    return {
        "messages": items,
        "next_before": items[-1]["created_at"] if len(items) == limit else None,
    }


@router.post(
    "/dead-letters/{message_id}/replay", status_code=202, summary="Deliver a dead letter again"
)
async def replay(
    integration_id: IntegrationIdPath, message_id: MessageIdPath, service: Service, _: Manager
) -> dict[str, Any]:
    return await service.replay_dead_letter(integration_id, message_id)


@router.delete("/dead-letters/{message_id}", status_code=204, summary="Discard a dead letter")
async def discard(
    integration_id: IntegrationIdPath, message_id: MessageIdPath, service: Service, _: Manager
) -> Response:
    await service.discard_dead_letter(integration_id, message_id)
    return Response(status_code=204)


@router.get("/events", summary="Verified webhook events, newest first")
async def events(
    integration_id: IntegrationIdPath,
    service: Service,
    _: Reader,
    limit: Limit = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    items = await service.list_events(integration_id, limit=limit, before=before)
    return {"events": items, "next_before": items[-1]["id"] if len(items) == limit else None}


def _statuses(values: list[str] | None) -> tuple[Status, ...] | None:
    if not values:
        return None
    wanted = [v.strip().lower() for item in values for v in item.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in STATUSES]
    if unknown:
        raise ValidationFailed(
            f"unknown status {', '.join(unknown)}",
            code="invalid_status",
            details={"choices": list(STATUSES)},
        )
    return tuple(v for v in STATUSES if v in wanted)
