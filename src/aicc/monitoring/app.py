"""The monitoring HTTP app (port 8000 by default)."""

from __future__ import annotations

from fastapi import FastAPI

from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.resources import Resources
from aicc.monitoring.routes import ROUTERS
from aicc.monitoring.service import MonitoringService


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    return build_app(
        MonitoringService(settings=settings, resources=resources, serve_metrics=False), ROUTERS
    )
