"""The console HTTP app (port 8080 by default)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from aicc.console.handlers import install_page_handlers
from aicc.console.routes import PAGES
from aicc.console.routing import check_csrf_coverage
from aicc.console.security import ConsoleHeaders
from aicc.console.service import ConsoleService
from aicc.core.app import build_app
from aicc.core.config import Settings
from aicc.core.resources import Resources


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    routers = [page.router for page in PAGES]
    check_csrf_coverage(routers)
    nav = [page.nav for page in PAGES if page.nav is not None]
    service = ConsoleService(settings=settings, resources=resources, nav=nav)
    app = build_app(service, routers, docs=False)
    install_page_handlers(app)
    app.mount("/static", StaticFiles(packages=[("aicc.console", "static")]), name="static")
    app.add_middleware(
        ConsoleHeaders, cookie_name=service.cookie_name, secure=service.cookie_secure
    )
    return app
