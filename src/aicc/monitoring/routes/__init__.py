"""The monitoring service's HTTP routes."""

from aicc.monitoring.routes.alertmanager_api import router as alertmanager_api_router
from aicc.monitoring.routes.connect import router as connect_router
from aicc.monitoring.routes.health import router as health_router
from aicc.monitoring.routes.notify import router as notify_router
from aicc.monitoring.routes.rules import router as rules_router

ROUTERS = (
    health_router,
    rules_router,
    connect_router,
    notify_router,
    alertmanager_api_router,
)

__all__ = ["ROUTERS"]
