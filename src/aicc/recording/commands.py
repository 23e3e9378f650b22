"""What ``aicc recording ...`` does."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder

from aicc.core.config import Settings
from aicc.recording.service import RecordingService


async def purge(settings: Settings, *, dry_run: bool) -> dict[str, Any]:
    """Delete (or list, with ``dry_run``) every recording past its retention."""
    service = RecordingService(
        settings=settings.model_copy(
            update={"jobs": settings.jobs.model_copy(update={"enabled": False})}
        )
    )
    await service.start()
    try:
        done = await service.purge_expired(dry_run=dry_run)
    finally:
        await service.stop()
    return {
        "dry_run": dry_run,
        "count": len(done),
        "recordings": [
            {k: r[k] for k in ("recording_id", "type", "expires_at", "completed_at")}
            for r in jsonable_encoder(done)
        ],
    }
