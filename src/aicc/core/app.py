"""Builds a service's FastAPI app around its facade: lifespan, middleware, errors, health."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from aicc import __version__
from aicc.core.errors import Unauthorized
from aicc.core.http import RequestContextMiddleware, install_error_handlers
from aicc.core.proxies import TrustedProxies
from aicc.core.service import ServiceBase

DOCS_ASSETS = "/docs/static"
"""Swagger UI and ReDoc, served from the installed ``fastapi-offline`` package."""
_FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="6" fill="#1f4e79"/>'
    b'<path d="M9 24 16 8l7 16M11.5 18.5h9" fill="none" stroke="#fff" stroke-width="3"'
    b' stroke-linecap="round" stroke-linejoin="round"/></svg>'
)


class Health(BaseModel):
    status: str
    service: str
    version: str


def build_app(
    service: ServiceBase, routers: Iterable[APIRouter] = (), *, docs: bool = True
) -> FastAPI:
    """The app starts ``service`` in its lifespan and stops it on shutdown.

    ``docs=False`` leaves out ``/docs``, ``/redoc`` and ``/openapi.json`` (an app of pages,
    not an API).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title=service.title,
        description=(type(service).__doc__ or "").strip(),
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.aicc_service = service
    install_error_handlers(app)
    app.include_router(_health_router(service))
    for router in routers:
        app.include_router(router)
    if docs:
        _install_docs(app)
    settings = service.settings
    app.add_middleware(
        RequestContextMiddleware,
        service=service.name,
        metrics=service.metrics,
        max_body_bytes=settings.server.max_body_bytes,
        access_log=settings.server.access_log,
        trusted_proxies=TrustedProxies(settings.server.trusted_proxies),
        body_limits=service.body_limits(),
    )
    return app


def _health_router(service: ServiceBase) -> APIRouter:
    router = APIRouter(tags=["health"])
    health = Health(status="ok", service=service.name, version=__version__)

    @router.get("/health", response_model=Health, summary="Liveness")
    async def liveness() -> Health:
        return health

    @router.get(
        "/health/ready",
        summary="Readiness: every backend this service uses, with latency",
        responses={503: {"description": "A backend is down"}},
    )
    async def readiness() -> JSONResponse:
        result = await service.readiness()
        body = {"status": "ready" if result["ready"] else "unavailable", "service": service.name}
        body["checks"] = result["checks"]
        return JSONResponse(body, status_code=200 if result["ready"] else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        token = service.metrics_token()
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Unauthorized("GET /metrics needs the metrics token", code="metrics_token")
        await service.refresh_metrics()
        body = generate_latest(service.metrics.registry) + service.extra_metrics()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def _install_docs(app: FastAPI) -> None:
    """``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` with every asset served by the app
    itself, so they work on a closed network (FastAPI's own pages load them from a CDN)."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def root_path(request: Request) -> str:
        root: str = request.scope.get("root_path", "")
        return root.rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/favicon.svg",
            oauth2_redirect_url=root + oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs/favicon.svg",
            with_google_fonts=False,
        )

    @app.get("/docs/favicon.svg", include_in_schema=False)
    async def favicon() -> Response:
        return Response(
            _FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    app.mount(
        DOCS_ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets"
    )
