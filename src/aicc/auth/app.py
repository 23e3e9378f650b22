"""The auth HTTP app (port 8003 by default)."""

from __future__ import annotations

from fastapi import FastAPI

from aicc.auth.routes import ROUTERS
from aicc.auth.service import AuthService
from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.resources import Resources


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    return build_app(AuthService(settings=settings, resources=resources), ROUTERS)
