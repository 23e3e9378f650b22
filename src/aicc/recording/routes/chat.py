"""Chat transcripts: start, add messages in order, stop."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from aicc.recording.dependencies import RecordingId, Service, Writer, client_address
from aicc.recording.schemas import ChatMessage, ChatStart

router = APIRouter(prefix="/recordings/chat", tags=["chat"])


@router.post("/start", status_code=201, summary="Start a chat transcript")
async def start(
    body: ChatStart, request: Request, service: Service, caller: Writer
) -> dict[str, Any]:
    recording_id = await service.start_chat(
        body.session_id,
        body.agent_id,
        body.customer_id,
        caller=caller,
        ip_address=client_address(request),
        retention_days=body.retention_days,
    )
    return {"recording_id": recording_id, "status": "recording", "type": "chat"}


@router.post("/{recording_id}/messages", status_code=201, summary="Add a message")
async def message(
    recording_id: RecordingId, body: ChatMessage, service: Service, caller: Writer
) -> dict[str, Any]:
    return await service.add_chat_message(recording_id, body, caller=caller)


@router.post("/{recording_id}/stop", summary="Stop: write the compressed, encrypted transcript")
async def stop(
    recording_id: RecordingId,
    request: Request,
    service: Service,
    caller: Writer,
    compression: Annotated[Literal["zstd", "gzip"], Query()] = "zstd",
) -> dict[str, Any]:
    return await service.stop_chat(
        recording_id, caller=caller, ip_address=client_address(request), compression=compression
    )
