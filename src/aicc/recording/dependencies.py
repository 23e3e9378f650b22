"""FastAPI dependencies of the recording routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from aicc.core.security import require_permission
from aicc.core.tokens import Principal
from aicc.recording.service import RecordingService


async def _service(request: Request) -> RecordingService:
    service: RecordingService = request.app.state.aicc_service
    return service


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


Service = Annotated[RecordingService, Depends(_service)]
Reader = Annotated[Principal, Depends(require_permission("recordings:read"))]
Writer = Annotated[Principal, Depends(require_permission("recordings:write"))]
Downloader = Annotated[Principal, Depends(require_permission("recordings:download"))]
Deleter = Annotated[Principal, Depends(require_permission("recordings:delete"))]
Auditor = Annotated[Principal, Depends(require_permission("audit:read"))]
RecordingId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A recording's id")]
