"""The SQL database: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) in production."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
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

_COMMIT_TOPICS = "aicc_commit_topics"
CommitListener = Callable[[frozenset[str]], None]


def mark_for_commit(conn: AsyncConnection, topic: str) -> None:
    """Tell this process's commit listeners about ``topic`` when ``conn``'s transaction
    commits (nothing when it rolls back). Listeners hear it as the commit is issued."""
    sync = conn.sync_connection
    if sync is None:
        raise RuntimeError("mark_for_commit needs an open connection")
    sync.info.setdefault(_COMMIT_TOPICS, set()).add(topic)


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
        event.listen(sync_engine, "commit", self._on_commit)
        event.listen(sync_engine, "rollback", self._on_rollback)
        self.commit_listeners: list[CommitListener] = []

    def _on_commit(self, conn: Any) -> None:
        topics = conn.info.pop(_COMMIT_TOPICS, None)
        if topics:
            frozen = frozenset(topics)
            for listener in list(self.commit_listeners):
                listener(frozen)

    @staticmethod
    def _on_rollback(conn: Any) -> None:
        conn.info.pop(_COMMIT_TOPICS, None)

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
    async def locked_transaction(self, name: str) -> AsyncIterator[AsyncConnection]:
        """A transaction that holds the lock ``name`` until it ends, across processes.

        For steps that must happen once however many replicas start together (migrations,
        the first admin, the first signing key): check and create inside it. PostgreSQL takes
        a transaction-scoped advisory lock; SQLite takes its single write lock up front
        (``BEGIN IMMEDIATE``), so the check cannot read a state another writer is changing.
        """
        async with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
                )
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


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def _request_transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    database: Database = request.app.state.aicc_service.resources.database
    async with database.transaction() as conn:
        yield conn


DbTransaction = Annotated[AsyncConnection, Depends(_request_transaction, scope="function")]
"""One transaction per request for routes that write through SQL directly: committed when the
route returns and before the response is sent (``scope="function"``), rolled back if it
raises."""
