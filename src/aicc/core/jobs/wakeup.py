"""Waking a worker the moment a job it can run is committed, so an idle system starts a job
within milliseconds instead of at the next poll.

Two sources, both optional, with polling as the fallback:
- PostgreSQL ``LISTEN aicc_jobs`` on a dedicated connection: ``NOTIFY`` is transactional, so
  it arrives after the enqueuing transaction commits, in every process;
- this process's commit listeners (``Database.commit_listeners``), for the embedded SQLite
  database and for jobs enqueued in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from aicc.core.db import Database
from aicc.core.jobs.queue import COMMIT_TOPIC_PREFIX, NOTIFY_CHANNEL

_RECONNECT_MIN = 0.5
_RECONNECT_MAX = 30.0
_PING_EVERY = 30.0


class Wakeups:
    """Calls ``wake`` when a job of one of ``kinds`` (or ``*``: any) may have become due."""

    def __init__(
        self,
        database: Database,
        kinds: frozenset[str],
        wake: Callable[[], None],
        logger: logging.Logger,
    ) -> None:
        self.database = database
        self.logger = logger
        self.kinds = kinds
        self.wake = wake
        self._topics = frozenset(COMMIT_TOPIC_PREFIX + k for k in kinds)
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while the PostgreSQL listener is connected (tests and readiness use it)."""

    async def start(self) -> None:
        self.database.commit_listeners.append(self._committed)
        if self.database.dialect == "postgresql":
            self._listener = asyncio.create_task(self._listen(), name="aicc-jobs-listen")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.database.commit_listeners.remove(self._committed)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def _committed(self, topics: frozenset[str]) -> None:
        if not self._topics.isdisjoint(topics):
            self.wake()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == "*" or payload in self.kinds:
            self.wake()

    async def _listen(self) -> None:
        dsn = make_url(self.database.url).set(drivername="postgresql")
        delay = _RECONNECT_MIN
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    dsn.render_as_string(hide_password=False),
                    server_settings={"application_name": "aicc-jobs-listen"},
                )
            except (OSError, asyncpg.PostgresError) as exc:
                self.logger.warning(
                    "job wake-ups: cannot listen (%s); polling meanwhile", type(exc).__name__
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX)
                continue
            try:
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(NOTIFY_CHANNEL, self._notified)
                self.listening.set()
                delay = _RECONNECT_MIN
                self.wake()
                await self._watch(conn, lost)
                self.logger.warning("job wake-ups: listener connection lost; reconnecting")
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))

    @staticmethod
    async def _watch(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone: closed, or silent to a ping (a dead network
        sends no FIN)."""
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), _PING_EVERY)
            except TimeoutError:
                try:
                    await conn.execute("SELECT 1", timeout=5)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    return


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _conn: event.set()
