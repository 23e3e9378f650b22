"""Periodic tasks that run once per deployment, however many replicas register them.

For each task one replica holds a lease in the database and enqueues one job per period, keyed
by the period's number: two replicas that both believe they lead (one stalled past its lease)
still add one job. A leader that dies is replaced once its lease lapses. A run that is still
queued or going when the next period starts is not joined by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aicc.core.db import Database
from aicc.core.jobs.claims import has_pending
from aicc.core.jobs.queue import enqueue
from aicc.core.jobs.types import PeriodicTask
from aicc.core.leases import acquire_lease, release_lease


class PeriodicScheduler:
    def __init__(
        self,
        database: Database,
        owner: str,
        tasks: Sequence[PeriodicTask],
        lease: float,
        logger: logging.Logger,
    ) -> None:
        self.database = database
        self.logger = logger
        self.owner = owner
        self.tasks = list(tasks)
        self.lease = lease
        self._last_slot: dict[str, int] = {}
        self._held: set[str] = set()
        self._loop: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._stop.clear()
        if self.tasks:
            self._loop = asyncio.create_task(self._run(), name="aicc-jobs-periodic")

    async def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            done, _ = await asyncio.wait([self._loop], timeout=10)
            if not done:
                self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        for name in list(self._held):
            with contextlib.suppress(Exception):
                await release_lease(self.database, _lease_name(name), self.owner)
        self._held.clear()

    @property
    def leading(self) -> frozenset[str]:
        """The tasks this process leads now."""
        return frozenset(self._held)

    async def _run(self) -> None:
        tick = max(0.2, min(self.lease / 3, min(t.every for t in self.tasks) / 2))
        while not self._stop.is_set():
            for task in self.tasks:
                try:
                    await self._tend(task)
                except Exception:
                    self.logger.warning(
                        "periodic task %s: scheduling failed", task.name, exc_info=True
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)

    async def _tend(self, task: PeriodicTask) -> None:
        if not await acquire_lease(self.database, _lease_name(task.name), self.owner, self.lease):
            self._held.discard(task.name)
            return
        self._held.add(task.name)
        slot = int(time.time() // task.every)
        if self._last_slot.get(task.name) == slot:
            return
        if not await has_pending(self.database, task.name):
            async with self.database.transaction() as conn:
                await enqueue(
                    conn, task.name, {"period": slot}, key=f"period:{slot}", max_attempts=1
                )
        self._last_slot[task.name] = slot


def _lease_name(task: str) -> str:
    return f"jobs:periodic:{task}"
