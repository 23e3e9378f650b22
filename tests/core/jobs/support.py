"""Running job workers in tests: a migrated database, workers with their own metrics, handlers
that record what they ran, and waiting for a condition without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from aicc.core.config import JobsSettings
from aicc.core.db import Database
from aicc.core.jobs import JobContext, JobHandler, JobWorker, PeriodicTask, Retry
from aicc.core.jobs.metrics import JobMetrics


def job_settings(**overrides: Any) -> JobsSettings:
    values: dict[str, Any] = {"poll_interval": 5.0, "lease": 30.0, "concurrency": 20}
    values.update(overrides)
    return JobsSettings(_env_file=None, **values)


@asynccontextmanager
async def running_worker(
    database: Database,
    handlers: Iterable[JobHandler] = (),
    *,
    periodic: Iterable[PeriodicTask] = (),
    stop_timeout: float = 5.0,
    **settings: Any,
) -> AsyncIterator[JobWorker]:
    registry = CollectorRegistry()
    worker = JobWorker(
        database,
        service="test",
        settings=job_settings(**settings),
        metrics=JobMetrics(registry),
        handlers=handlers,
        periodic=periodic,
    )
    worker.registry = registry  # type: ignore[attr-defined]
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop(stop_timeout)


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
) -> None:
    """Wait until ``check()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if isinstance(outcome, Awaitable):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@dataclass
class Recorder:
    """A handler that records every attempt; ``behaviour`` decides what each attempt does."""

    kind: str = "test.record"
    behaviour: Callable[[JobContext], Awaitable[Retry | None]] | None = None
    attempts: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    started_at: dict[int, float] = field(default_factory=dict)
    attempt_times: list[float] = field(default_factory=list)

    async def __call__(self, ctx: JobContext) -> Retry | None:
        self.attempts.append((ctx.job.id, ctx.attempt, ctx.payload))
        self.attempt_times.append(time.monotonic())
        self.started_at.setdefault(ctx.job.id, time.monotonic())
        if self.behaviour is not None:
            return await self.behaviour(ctx)
        return None

    def handler(self, **options: Any) -> JobHandler:
        return JobHandler(kind=self.kind, run=self, **options)

    def ran(self, job_id: int) -> int:
        return sum(1 for ran_id, _, _ in self.attempts if ran_id == job_id)
