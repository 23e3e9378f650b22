"""The SQL database: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) in production."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from aicc.core.config import DatabaseSettings
from aicc.core.errors import ConfigError
from aicc.core.metrics import DatabaseMetrics

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""One metadata for every table; table names start with their service (``auth_user``)."""


def async_url(url: str) -> str:
    """Map the spec's plain URLs onto async drivers (``postgresql://`` → asyncpg)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"DATABASE_URL is not a valid URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ConfigError(f"DATABASE_URL must be postgresql:// or sqlite://, got {backend!r}")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the single writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")  # wait for the write lock instead of failing
    cursor.close()


class Database:
    """An async engine plus the metrics and health check around it."""

    def __init__(self, url: str, settings: DatabaseSettings | None = None) -> None:
        settings = settings or DatabaseSettings(_env_file=None)
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.metrics = DatabaseMetrics()
        kwargs: dict[str, Any] = {"echo": settings.echo}
        if self.dialect == "sqlite":
            if make_url(self.url).database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(
                pool_size=settings.pool_size,
                max_overflow=settings.max_overflow,
                pool_timeout=settings.pool_timeout,
                # No pre-ping (a round trip per checkout, ~15% of a login): a connection the
                # server dropped fails one statement (503), is discarded, and the pool moves on.
                pool_recycle=1800,
                connect_args={"server_settings": {"application_name": "aicc"}},
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        sync_engine = self.engine.sync_engine
        if self.dialect == "sqlite":
            event.listen(sync_engine, "connect", _sqlite_pragmas)
        event.listen(sync_engine, "checkout", self._on_checkout)
        event.listen(sync_engine, "checkin", self._on_checkin)
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        event.listen(sync_engine, "after_cursor_execute", self._after_execute)

    def _on_checkout(self, *_: Any) -> None:
        self.metrics.connections_active.inc()

    def _on_checkin(self, *_: Any) -> None:
        self.metrics.connections_active.dec()

    @staticmethod
    def _before_execute(conn: Any, *_: Any) -> None:
        conn.info.setdefault("aicc_query_start", []).append(time.perf_counter())

    def _after_execute(self, conn: Any, *_: Any) -> None:
        started = conn.info["aicc_query_start"].pop()
        self.metrics.query_duration.observe(time.perf_counter() - started)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


async def _request_transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    database: Database = request.app.state.aicc_service.resources.database
    async with database.transaction() as conn:
        yield conn


DbTransaction = Annotated[AsyncConnection, Depends(_request_transaction, scope="function")]
"""One transaction per request for routes that write through SQL directly: committed when the
route returns and before the response is sent (``scope="function"``), rolled back if it
raises."""
