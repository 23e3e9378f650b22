"""The recording library: search, metadata, download, access log, legal hold, deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from aicc.recording.dependencies import (
    Auditor,
    Deleter,
    Downloader,
    Reader,
    RecordingId,
    Service,
    client_address,
)
from aicc.recording.schemas import DeleteRequest, HoldRequest, RecordingPage

router = APIRouter(prefix="/recordings", tags=["library"])
Text = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("", response_model=RecordingPage, summary="Search recordings, newest first")
async def search(
    service: Service,
    caller: Reader,
    agent_id: Text = None,
    customer_id: Text = None,
    session_id: Text = None,
    type: Annotated[Literal["voice", "chat"] | None, Query()] = None,
    status: Annotated[
        Literal["recording", "paused", "finalizing", "completed", "failed", "deleted"] | None,
        Query(),
    ] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RecordingPage:
    items, next_cursor = await service.search_recordings(
        caller=caller,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
        agent_id=agent_id,
        customer_id=customer_id,
        session_id=session_id,
        type=type,
        status=status,
    )
    return RecordingPage(items=items, next_cursor=next_cursor)


@router.get("/{recording_id}", name="get_recording", summary="A recording's metadata")
async def get_recording(
    recording_id: RecordingId, service: Service, caller: Reader
) -> dict[str, Any]:
    return await service.get_recording(recording_id, caller=caller)


@router.get(
    "/{recording_id}/download",
    summary="The audio (Range requests supported) or the chat transcript",
    response_class=Response,
    responses={206: {"description": "Partial content"}, 416: {"description": "Bad range"}},
)
async def download(
    recording_id: RecordingId,
    request: Request,
    service: Service,
    caller: Downloader,
    format: Annotated[Literal["wav", "flac", "mp3", "aac"] | None, Query()] = None,
) -> Response:
    return await service.download_response(
        recording_id,
        caller=caller,
        ip_address=client_address(request),
        range_header=request.headers.get("range"),
        if_range=request.headers.get("if-range"),
        audio_format=format,
    )


@router.get("/{recording_id}/access-log", summary="Every event and read of a recording")
async def access_log(
    recording_id: RecordingId,
    service: Service,
    _: Auditor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    events = await service.access_log(recording_id, limit=limit, before=before)
    return {"items": events, "next_before": events[-1]["id"] if len(events) == limit else None}


@router.put("/{recording_id}/hold", summary="Put a recording under legal hold")
async def set_hold(
    recording_id: RecordingId,
    body: HoldRequest,
    request: Request,
    service: Service,
    caller: Deleter,
) -> dict[str, Any]:
    return await service.set_hold(
        recording_id, body.reason, caller=caller, ip_address=client_address(request)
    )


@router.delete("/{recording_id}/hold", summary="Release a legal hold")
async def release_hold(
    recording_id: RecordingId, request: Request, service: Service, caller: Deleter
) -> dict[str, Any]:
    return await service.release_hold(
        recording_id, caller=caller, ip_address=client_address(request)
    )


@router.delete("/{recording_id}", summary="Delete a recording (a tombstone stays)")
async def delete(
    recording_id: RecordingId,
    request: Request,
    service: Service,
    caller: Deleter,
    body: DeleteRequest | None = None,
) -> dict[str, Any]:
    return await service.delete_recording(
        recording_id,
        reason=body.reason if body else None,
        caller=caller,
        ip_address=client_address(request),
    )
