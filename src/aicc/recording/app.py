"""The recording HTTP app (port 8001 by default)."""

from __future__ import annotations

from fastapi import FastAPI

from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.jobs.routes import jobs_router
from aicc.core.resources import Resources
from aicc.recording.routes import ROUTERS
from aicc.recording.service import RecordingService


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    service = RecordingService(settings=settings, resources=resources)
    jobs = jobs_router(
        lambda: service.jobs.kinds,
        prefix="/recordings/jobs",
        tag="recording jobs",
        read_permission="recordings:delete",
        manage_permission="recordings:delete",
    )
    return build_app(service, [jobs, *ROUTERS])
