"""``DbTransaction``: a request's writes commit before its response starts, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from fastapi import APIRouter
from sqlalchemy import insert, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.core.app import build_app
from aicc.core.config import load_settings
from aicc.core.db import Database, DbTransaction
from aicc.core.leases import lease_table
from aicc.monitoring import MonitoringService


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/leases/{name}")
    async def create(name: str, conn: DbTransaction, fail: bool = False) -> dict[str, str]:
        now = datetime.now(UTC)
        await conn.execute(
            insert(lease_table).values(name=name, owner="test", expires_at=now, acquired_at=now)
        )
        if fail:
            raise RuntimeError("after the write")
        return {"name": name}

    return router


class SeenAtResponseStart:
    """Records, when the response starts, which lease rows another connection can see."""

    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database
        self.seen: list[list[str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                async with self.database.connect() as conn:
                    rows = await conn.execute(select(lease_table.c.name))
                    self.seen.append(sorted(rows.scalars()))
            await send(message)

        await self.app(scope, receive, spy)


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx2.AsyncClient, SeenAtResponseStart]]:
    settings = load_settings(
        {
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "server.auto_migrate": True,
            "jobs.enabled": False,
        },
        env_file=None,
    )
    service = MonitoringService(settings=settings)
    app = build_app(service, [_router()])
    async with app.router.lifespan_context(app):
        spy = SeenAtResponseStart(app, service.resources.database)
        transport = httpx2.ASGITransport(app=spy)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, spy


async def test_commit_happens_before_the_response_starts(
    served: tuple[httpx2.AsyncClient, SeenAtResponseStart],
) -> None:
    client, spy = served
    response = await client.post("/leases/first")
    assert response.status_code == 200
    assert spy.seen == [["first"]]


async def test_a_failing_request_leaves_nothing_behind(
    served: tuple[httpx2.AsyncClient, SeenAtResponseStart],
) -> None:
    client, spy = served
    response = await client.post("/leases/doomed", params={"fail": "true"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert spy.seen == [[]]
