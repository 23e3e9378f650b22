from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from fastapi import FastAPI


@asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """Run the app's lifespan and give a client that talks to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
