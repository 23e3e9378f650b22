"""The integration HTTP app (port 8002 by default)."""

from __future__ import annotations

from fastapi import FastAPI

from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.resources import Resources
from aicc.integration.service import IntegrationService


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    return build_app(IntegrationService(settings=settings, resources=resources))
