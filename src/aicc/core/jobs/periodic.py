"""Periodic tasks that run once per deployment, however many replicas register them.

For each task one replica holds a lease in the database and enqueues one job per period, keyed
by the period's number: two replicas that both believe they lead (one stalled past its lease)
still add one job. A leader that dies is replaced once its lease lapses. A run that is still
queued or going when the next period starts is not joined by another.

A task marked ``in_leader`` is not enqueued: the leader runs it in its own process, and
:meth:`PeriodicScheduler.wake` asks for one extra run at a given moment (the evaluator, when
a pending alert's ``for`` period ends between two evaluations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from aicc.core.db import Database
from aicc.core.jobs.claims import has_pending
from aicc.core.jobs.context import JobContext
from aicc.core.jobs.metrics import JobMetrics
from aicc.core.jobs.queue import enqueue
from aicc.core.jobs.types import Job, JobState, PeriodicTask
from aicc.core.leases import acquire_lease, release_lease


class PeriodicScheduler:
    def __init__(
        self,
        database: Database,
        owner: str,
        tasks: Sequence[PeriodicTask],
        lease: float,
        logger: logging.Logger,
        metrics: JobMetrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics
        """Counts leader-run tasks like jobs (``aicc_jobs_processed_total``, durations)."""
        self.logger = logger
        self.owner = owner
        self.tasks = list(tasks)
        self.lease = lease
        self._last_slot: dict[str, int] = {}
        self._held: set[str] = set()
        self._loop: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._nudge = asyncio.Event()
        self._local: dict[str, asyncio.Task[None]] = {}
        self._wake_at: dict[str, float] = {}

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
        running = [t for t in self._local.values() if not t.done()]
        if running:
            done, pending = await asyncio.wait(running, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        self._local.clear()
        for name in list(self._held):
            with contextlib.suppress(Exception):
                await release_lease(self.database, _lease_name(name), self.owner)
        self._held.clear()

    @property
    def leading(self) -> frozenset[str]:
        """The tasks this process leads now."""
        return frozenset(self._held)

    def wake(self, name: str, at: float) -> None:
        """One extra run of the ``in_leader`` task ``name`` at ``at`` (epoch seconds), if this
        process leads it then; the earliest of several requests wins."""
        if at < self._wake_at.get(name, float("inf")):
            self._wake_at[name] = at
            self._nudge.set()

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
            wait = tick
            if self._wake_at:
                wait = max(0.0, min(tick, min(self._wake_at.values()) - time.time()))
            self._nudge.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(self._stop, self._nudge), wait)

    async def _tend(self, task: PeriodicTask) -> None:
        if not await acquire_lease(self.database, _lease_name(task.name), self.owner, self.lease):
            self._held.discard(task.name)
            self._wake_at.pop(task.name, None)
            return
        self._held.add(task.name)
        slot = int(time.time() // task.every)
        if task.in_leader:
            self._tend_locally(task, slot)
            return
        if self._last_slot.get(task.name) == slot:
            return
        if not await has_pending(self.database, task.name):
            async with self.database.transaction() as conn:
                await enqueue(
                    conn, task.name, {"period": slot}, key=f"period:{slot}", max_attempts=1
                )
        self._last_slot[task.name] = slot

    def _tend_locally(self, task: PeriodicTask, slot: int) -> None:
        woken = self._wake_at.get(task.name, float("inf")) <= time.time()
        if self._last_slot.get(task.name) == slot and not woken:
            return
        running = self._local.get(task.name)
        if running is not None and not running.done():
            return
        if woken:
            del self._wake_at[task.name]
        self._last_slot[task.name] = slot
        self._local[task.name] = asyncio.create_task(
            self._run_locally(task, slot), name=f"aicc-periodic-{task.name}"
        )

    async def _run_locally(self, task: PeriodicTask, slot: int) -> None:
        at = datetime.now(UTC)
        job = Job(
            id=0,
            kind=task.name,
            key=f"period:{slot}",
            payload={"period": slot},
            state=JobState.RUNNING,
            attempt=1,
            max_attempts=1,
            run_at=at,
            created_at=at,
            locked_by=self.owner,
        )
        started = time.monotonic()
        outcome = "completed"
        try:
            await asyncio.wait_for(
                task.run(JobContext(job, self.database, self.owner)), task.timeout
            )
        except Exception:
            outcome = "failed"
            self.logger.warning("periodic task %s failed", task.name, exc_info=True)
        if self.metrics is not None:
            self.metrics.finished(task.name, outcome, time.monotonic() - started)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _lease_name(task: str) -> str:
    return f"jobs:periodic:{task}"
