"""The integration HTTP app (port 8002 by default)."""

from __future__ import annotations

from fastapi import FastAPI

from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.jobs.routes import jobs_router
from aicc.core.resources import Resources
from aicc.integration.routes import ROUTERS
from aicc.integration.service import IntegrationService


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    service = IntegrationService(settings=settings, resources=resources)
    jobs = jobs_router(
        lambda: service.jobs.kinds,
        prefix="/integrations/jobs",
        tag="integration jobs",
        read_permission="integrations:manage",
        manage_permission="integrations:manage",
    )
    return build_app(service, [jobs, *ROUTERS])
