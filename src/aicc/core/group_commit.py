"""Group commit: rows that many callers want written in the next few milliseconds go into one
transaction. A caller either waits for that commit or hands the row over and moves on (a log
entry that must not slow the answer down); either way a crash leaves each batch written whole
or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.db import Database

T = TypeVar("T")
Write = Callable[[AsyncConnection, list[T]], Awaitable[None]]
logger = logging.getLogger("aicc.core.group_commit")


@dataclass
class _Item(Generic[T]):
    value: T
    done: asyncio.Future[None] | None = field(default=None, repr=False)


class GroupCommit(Generic[T]):
    """``write(conn, rows)`` runs in one transaction per batch.

    Waiting callers whose batch fails get the exception (and decide themselves); the rows
    nobody waits for are retried, ``retry_delay`` apart, ``attempts`` times, then given up
    with an error in the log. When
    more than ``max_pending`` rows wait (the database is slow or down), callers wait too, so
    memory stays bounded.
    """

    def __init__(
        self,
        database: Database,
        write: Write[T],
        *,
        name: str,
        gather: float = 0.005,
        max_batch: int = 1000,
        max_pending: int = 20000,
        attempts: int = 5,
        retry_delay: float = 0.5,
    ) -> None:
        self.database = database
        self.write = write
        self.name = name
        self.gather = gather
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.attempts = attempts
        self.retry_delay = retry_delay
        self._pending: list[_Item[T]] = []
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"aicc-group-commit-{self.name}")

    async def stop(self) -> None:
        """Commit what is pending, then stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self) -> None:
        """Return once everything queued so far is committed (or given up)."""
        if self._task is not None:
            await self._drained.wait()

    async def submit(self, value: T, *, wait: bool = True) -> None:
        """Queue ``value``; with ``wait``, return once its batch is committed."""
        if self._task is None or self._closing:
            raise RuntimeError(f"group commit {self.name!r} is not running")
        crowded = len(self._pending) >= self.max_pending
        done = asyncio.get_running_loop().create_future() if wait or crowded else None
        self._pending.append(_Item(value, done))
        self._drained.clear()
        self._ready.set()
        if done is not None:
            await done

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if self.gather and not self._closing:
                await asyncio.sleep(self.gather)
            self._ready.clear()
            while self._pending:
                batch, self._pending = (
                    self._pending[: self.max_batch],
                    self._pending[self.max_batch :],
                )
                await self._commit(batch)
            self._drained.set()
            if self._closing:
                return

    async def _commit(self, batch: list[_Item[T]]) -> None:
        error: BaseException | None = None
        for attempt in range(self.attempts):
            try:
                async with self.database.transaction() as conn:
                    await self.write(conn, [item.value for item in batch])
            except Exception as exc:
                error = exc
                for item in batch:
                    if item.done is not None and not item.done.done():
                        item.done.set_exception(exc)
                batch = [item for item in batch if item.done is None]
                if not batch:
                    return
                if attempt + 1 < self.attempts and not self._closing:
                    await asyncio.sleep(self.retry_delay)
                continue
            for item in batch:
                if item.done is not None and not item.done.done():
                    item.done.set_result(None)
            return
        logger.error(
            "group commit gave up a batch",
            exc_info=error,
            extra={"metadata": {"writer": self.name, "rows": len(batch)}},
        )
