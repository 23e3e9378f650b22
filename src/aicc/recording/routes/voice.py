"""Voice capture: start, live audio (WebSocket or HTTP chunks), pause, resume, stop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from aicc.core.errors import AppError, Forbidden, Unauthorized
from aicc.core.tokens import Principal
from aicc.recording import catalog
from aicc.recording.dependencies import RecordingId, Service, Writer, client_address
from aicc.recording.schemas import AudioAccepted, VoiceStart, VoiceStarted
from aicc.recording.streaming import StreamSession
from aicc.recording.uploads import audio_body

router = APIRouter(prefix="/recordings", tags=["voice"])
AUDIO_BODY = {
    "requestBody": {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    }
}


@router.post(
    "/voice/start", status_code=201, response_model=VoiceStarted, summary="Start a voice recording"
)
async def start(
    body: VoiceStart, request: Request, service: Service, caller: Writer
) -> VoiceStarted:
    recording_id = await service.start_voice(
        body, caller=caller, ip_address=client_address(request)
    )
    token, expires = service.stream_token(recording_id)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    stream = request.url_for("stream_audio", recording_id=recording_id).replace(scheme=scheme)
    return VoiceStarted(
        recording_id=recording_id,
        status="recording",
        stream_url=f"{stream}?token={token}",
        stream_token_expires_at=datetime.fromtimestamp(expires, UTC),
        format=body.format or service.settings.recording.format,
        sample_rate=body.sample_rate,
        channels=body.channels,
        channel_map=body.channel_map.model_dump() if body.channel_map else None,
        encoding=body.encoding,
    )


@router.post(
    "/voice/{recording_id}/audio",
    response_model=AudioAccepted,
    summary="Add a chunk of live audio at an offset",
    openapi_extra=AUDIO_BODY,
)
async def audio(
    recording_id: RecordingId,
    request: Request,
    service: Service,
    caller: Writer,
    offset: Annotated[int | None, Query(ge=0, le=2**62, description="bytes already sent")] = None,
) -> AudioAccepted:
    data = await request.body()
    ack = await service.append_audio(recording_id, data, offset=offset, caller=caller)
    return AudioAccepted(**ack)


@router.post("/voice/{recording_id}/pause", summary="Pause (PCI): audio becomes silence")
async def pause(
    recording_id: RecordingId, request: Request, service: Service, caller: Writer
) -> dict[str, Any]:
    return await service.pause_recording(
        recording_id, caller=caller, ip_address=client_address(request)
    )


@router.post("/voice/{recording_id}/resume", summary="Resume a paused recording")
async def resume(
    recording_id: RecordingId, request: Request, service: Service, caller: Writer
) -> dict[str, Any]:
    return await service.resume_recording(
        recording_id, caller=caller, ip_address=client_address(request)
    )


@router.post("/voice/{recording_id}/stop", summary="Stop and finalize a voice recording")
async def stop(
    recording_id: RecordingId, request: Request, service: Service, caller: Writer
) -> JSONResponse:
    metadata = await service.stop_voice_recording(
        recording_id, caller=caller, ip_address=client_address(request)
    )
    if metadata["status"] == "finalizing":
        url = str(request.url_for("get_recording", recording_id=recording_id))
        return JSONResponse(
            {**_json(metadata), "metadata_url": url}, status_code=202, headers={"Location": url}
        )
    return JSONResponse(_json(metadata))


@router.post(
    "/import",
    status_code=201,
    summary="Import a finished audio file (raw body, or the 'file' part of a form)",
    openapi_extra=AUDIO_BODY,
    responses={202: {"description": "Stored; still being counted or transcoded"}},
)
async def import_file(
    request: Request,
    service: Service,
    caller: Writer,
    session_id: Annotated[str, Query(min_length=1, max_length=200)],
    agent_id: Annotated[str, Query(min_length=1, max_length=200)],
    customer_id: Annotated[str, Query(min_length=1, max_length=200)],
    format: Annotated[Literal["wav", "flac", "mp3", "aac"] | None, Query()] = None,
    retention_days: Annotated[int | None, Query(ge=0, le=36500)] = None,
) -> JSONResponse:
    limit = service.settings.recording.import_max_bytes
    metadata = await service.import_recording(
        audio_body(request, limit),
        caller=caller,
        ip_address=client_address(request),
        session_id=session_id,
        agent_id=agent_id,
        customer_id=customer_id,
        format=format,
        retention_days=retention_days,
    )
    url = str(request.url_for("get_recording", recording_id=metadata["recording_id"]))
    status = 202 if metadata["status"] == "finalizing" else 201
    return JSONResponse(
        {**_json(metadata), "metadata_url": url}, status_code=status, headers={"Location": url}
    )


@router.websocket("/voice/{recording_id}/stream", name="stream_audio")
async def stream_audio(
    websocket: WebSocket,
    recording_id: str,
    token: str | None = None,
    offset: int | None = None,
) -> None:
    service = websocket.app.state.aicc_service
    await websocket.accept()
    session: StreamSession | None = None
    try:
        caller = await _stream_caller(service, websocket, recording_id, token)
        if offset is not None and offset < 0:
            raise Unauthorized("offset must not be negative", code="bad_offset")
        async with service.resources.database.connect() as conn:
            row = await catalog.visible(conn, recording_id, caller)
        catalog.require_state(row, catalog.LIVE, "stream into")
        session = StreamSession(service, websocket, row, caller, offset)
    except AppError as exc:
        await websocket.send_json(
            {"event": "error", "code": exc.error_code, "message": exc.message}
        )
        await websocket.close(1008)
        return
    await session.run()


async def _stream_caller(
    service: Any, websocket: WebSocket, recording_id: str, token: str | None
) -> Principal | None:
    """The stream token in the URL (for platforms that cannot set headers), or a bearer
    access token with ``recordings:write``."""
    header = websocket.headers.get("authorization", "")
    if token:
        service.check_stream_token(token, recording_id)
        return None
    if header.lower().startswith("bearer "):
        principal: Principal = await service.token_verifier.verify(header[7:].strip())
        if "recordings:write" not in principal.permissions:
            raise Forbidden("Missing permission: recordings:write", code="permission_denied")
        return principal
    raise Unauthorized("A stream token or a bearer token is required", code="missing_token")


def _json(metadata: dict[str, Any]) -> dict[str, Any]:
    encoded: dict[str, Any] = jsonable_encoder(metadata)
    return encoded
