"""The monitoring service's HTTP routes."""

from aicc.monitoring.routes.health import router as health_router

ROUTERS = (health_router,)

__all__ = ["ROUTERS"]
