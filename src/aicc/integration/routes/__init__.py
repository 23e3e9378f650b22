"""The integration service's HTTP routes."""

from aicc.integration.routes.integrations import router as integrations_router
from aicc.integration.routes.messages import router as messages_router
from aicc.integration.routes.webhooks import router as webhooks_router

ROUTERS = (integrations_router, messages_router, webhooks_router)

__all__ = ["ROUTERS"]
