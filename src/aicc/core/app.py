"""Builds a service's FastAPI app around its facade: lifespan, middleware, errors, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from aicc import __version__
from aicc.core.http import RequestContextMiddleware, install_error_handlers
from aicc.core.service import ServiceBase


class Health(BaseModel):
    status: str
    service: str
    version: str


def build_app(service: ServiceBase, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """The app starts ``service`` in its lifespan and stops it on shutdown."""

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
    )
    app.state.aicc_service = service
    install_error_handlers(app)
    app.include_router(_health_router(service))
    for router in routers:
        app.include_router(router)
    settings = service.settings
    app.add_middleware(
        RequestContextMiddleware,
        service=service.name,
        metrics=service.metrics,
        max_body_bytes=settings.server.max_body_bytes,
        access_log=settings.server.access_log,
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
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
