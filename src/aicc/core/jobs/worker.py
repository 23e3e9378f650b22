"""The worker each service process runs for the job kinds it handles.

It claims due jobs in batches under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
single write lock on SQLite), runs each as a task with its handler's timeout, renews the lease
while they run, records outcomes (completions in batches), takes back jobs whose worker
vanished, schedules periodic tasks, and on stop lets running jobs finish within the shutdown
timeout before giving the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aicc.core.config import JobsSettings
from aicc.core.db import Database
from aicc.core.jobs import claims
from aicc.core.jobs.context import ClaimLost, JobContext
from aicc.core.jobs.metrics import JobMetrics
from aicc.core.jobs.periodic import PeriodicScheduler
from aicc.core.jobs.queue import now
from aicc.core.jobs.types import Job, JobHandler, PeriodicTask, PermanentFailure, Retry
from aicc.core.jobs.wakeup import Wakeups

_STATS_EVERY = 5.0
_PRUNE_EVERY = 60.0
_COALESCE = 0.001


@dataclass
class _Running:
    job: Job
    handler: JobHandler
    task: asyncio.Task[None] = field(repr=False)
    interrupted: bool = False


def worker_id(service: str) -> str:
    host = socket.gethostname()[:24]
    return f"{service}@{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobWorker:
    def __init__(
        self,
        database: Database,
        *,
        service: str,
        settings: JobsSettings,
        metrics: JobMetrics,
        handlers: Iterable[JobHandler] = (),
        periodic: Iterable[PeriodicTask] = (),
    ) -> None:
        self.database = database
        self.settings = settings
        self.metrics = metrics
        self.id = worker_id(service)
        self.logger = logging.getLogger(f"aicc.{service}.jobs")
        """Named for the service, so its log lines carry the service's name."""
        periodic = list(periodic)
        self.handlers = {h.kind: h for h in handlers}
        for task in periodic:
            if not task.in_leader:
                self.handlers[task.name] = task.handler
        self._periodic_kinds = frozenset(t.name for t in periodic)
        self._uncapped = [k for k, h in self.handlers.items() if h.concurrency is None]
        self._capped = {k: h.concurrency for k, h in self.handlers.items() if h.concurrency}
        self._running: dict[int, _Running] = {}
        self._done: list[int] = []
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.wakeups = Wakeups(database, frozenset(self.handlers), self.wake, self.logger)
        self.scheduler = PeriodicScheduler(
            database, self.id, periodic, settings.lease, self.logger, metrics
        )

    @property
    def kinds(self) -> list[str]:
        return list(self.handlers)

    @property
    def running(self) -> int:
        return len(self._running)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if not self.handlers and not self.scheduler.tasks:
            return
        self._stop.clear()
        await self.wakeups.start()
        for loop in (self._fetch_loop, self._flush_loop, self._heartbeat_loop):
            self._loops.append(asyncio.create_task(loop(), name=f"aicc-jobs-{loop.__name__}"))
        self.scheduler.start()

    async def stop(self, timeout: float) -> None:
        """Stop claiming; let running jobs finish within ``timeout``; give back the rest."""
        if not self._loops:
            return
        self._stop.set()
        fetcher, flusher, heartbeat = self._loops
        await _finish(fetcher, self.logger)
        await self.scheduler.stop()
        if self._running:
            await asyncio.wait([r.task for r in self._running.values()], timeout=timeout)
        leftover = list(self._running.values())
        for item in leftover:
            item.interrupted = True
            item.task.cancel()
        if leftover:
            await asyncio.wait([r.task for r in leftover])
            requeue = [r.job.id for r in leftover if r.handler.idempotent]
            unknown = [r.job.id for r in leftover if not r.handler.idempotent]
            try:
                await claims.release(
                    self.database,
                    self.id,
                    requeue,
                    unknown,
                    "interrupted by a shutdown; outcome unknown",
                )
            except Exception:
                self.logger.warning(
                    "jobs: could not give back %d claims; they return when their lease lapses",
                    len(leftover),
                    exc_info=True,
                )
        await _finish(heartbeat, self.logger)
        await _finish(flusher, self.logger)
        await self._flush()
        await self.wakeups.stop()
        self._loops.clear()

    async def _fetch_loop(self) -> None:
        poll = self.settings.poll_interval
        while not self._stop.is_set():
            free = self.settings.concurrency - len(self._running)
            if free <= 0:
                await _wait_any((self._slot_freed, self._stop), poll)
                self._slot_freed.clear()
                await asyncio.sleep(_COALESCE)
                continue
            self._wake.clear()
            self._slot_freed.clear()
            try:
                jobs, more = await self._claim(free)
            except Exception:
                self.logger.warning("jobs: claiming failed; retrying", exc_info=True)
                await _wait_any((self._stop,), poll)
                continue
            for job in jobs:
                self._launch(job)
            if more:
                await asyncio.sleep(0)
                continue
            wait = poll
            if not jobs:
                wait = await self._until_next_due(poll)
            await _wait_any((self._wake, self._slot_freed, self._stop), wait)

    async def _claim(self, free: int) -> tuple[list[Job], bool]:
        """Claim up to ``free`` jobs; ``more`` is whether a claim was cut short by ``free``."""
        lease = self.settings.lease
        jobs = await claims.claim(self.database, self.id, self._uncapped, free, lease)
        more = len(jobs) == free and bool(self._uncapped)
        free -= len(jobs)
        for kind, cap in self._capped.items():
            if free <= 0:
                break
            local = sum(1 for r in self._running.values() if r.job.kind == kind)
            got = (
                await claims.claim(
                    self.database, self.id, [kind], min(free, cap - local), lease, cap=cap
                )
                if cap > local
                else []
            )
            jobs.extend(got)
            free -= len(got)
        return jobs, more

    async def _until_next_due(self, poll: float) -> float:
        due = await claims.next_due(self.database, self.kinds)
        if due is None:
            return poll
        seconds = (due - now()).total_seconds()
        return poll if seconds <= 0 else min(poll, seconds + 0.001)

    def _launch(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        task = asyncio.create_task(self._run(job, handler), name=f"aicc-job-{job.id}")
        self._running[job.id] = _Running(job, handler, task)

    async def _run(self, job: Job, handler: JobHandler) -> None:
        started = time.perf_counter()
        ctx = JobContext(job, self.database, self.id)
        outcome = "failed"
        try:
            outcome = await self._attempt(ctx, handler)
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        except Exception:
            self.logger.warning(
                "job outcome not recorded; the claim lapses and the job returns",
                extra=_about(job),
                exc_info=True,
            )
        finally:
            self._running.pop(job.id, None)
            self._slot_freed.set()
            self.metrics.finished(job.kind, outcome, time.perf_counter() - started)

    async def _attempt(self, ctx: JobContext, handler: JobHandler) -> str:
        job = ctx.job
        deadline = asyncio.timeout(handler.timeout)
        try:
            async with deadline:
                result = await handler.run(ctx)
            if isinstance(result, Retry):
                raise result
        except Retry as retry:
            return await self._fail(job, handler, retry.reason, retry.after)
        except PermanentFailure as failure:
            await claims.bury(self.database, self.id, job.id, failure.reason)
            return "dead"
        except ClaimLost:
            self.logger.warning("job claim lost to another worker", extra=_about(job))
            return "lost"
        except TimeoutError as exc:
            if not deadline.expired():
                return await self._failed_with(job, handler, exc)
            reason = f"timed out after {handler.timeout:g}s"
            if not handler.idempotent:
                await claims.bury(self.database, self.id, job.id, reason + "; outcome unknown")
                return "dead"
            return await self._fail(job, handler, reason, None)
        except Exception as exc:
            return await self._failed_with(job, handler, exc)
        if not ctx.completed:
            if handler.idempotent:
                self._done.append(job.id)
                self._flush_now.set()
            else:
                await claims.complete(self.database, self.id, [job.id])
        if job.kind in self._periodic_kinds:
            await claims.supersede_dead(self.database, job.kind)
        return "completed"

    async def _failed_with(self, job: Job, handler: JobHandler, exc: Exception) -> str:
        self.logger.warning("job attempt failed", extra=_about(job), exc_info=exc)
        reason = f"{type(exc).__name__}: {exc}"
        if not handler.idempotent:
            await claims.bury(self.database, self.id, job.id, reason + "; outcome unknown")
            return "dead"
        return await self._fail(job, handler, reason, None)

    async def _fail(self, job: Job, handler: JobHandler, reason: str, after: float | None) -> str:
        if job.attempt >= job.max_attempts:
            await claims.bury(
                self.database, self.id, job.id, f"gave up after {job.attempt} attempt(s): {reason}"
            )
            return "dead"
        delay = after if after is not None else handler.backoff(job.attempt)
        await claims.retry_later(self.database, self.id, job.id, max(0.0, delay), reason)
        return "retried"

    async def _flush_loop(self) -> None:
        while not self._stop.is_set():
            await _wait_any((self._flush_now, self._stop), None)
            self._flush_now.clear()
            try:
                await self._flush()
            except Exception:
                self.logger.warning("jobs: recording completions failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                self._flush_now.set()

    async def _flush(self) -> None:
        while self._done:
            batch, self._done = self._done, []
            try:
                await claims.complete(self.database, self.id, batch)
            except BaseException:
                self._done[:0] = batch
                raise

    async def _heartbeat_loop(self) -> None:
        lease = self.settings.lease
        tick = max(0.2, min(lease / 3, 5.0))
        last_stats = last_prune = 0.0
        idempotent = [k for k, h in self.handlers.items() if h.idempotent]
        unsafe = [k for k, h in self.handlers.items() if not h.idempotent]
        while not self._stop.is_set():
            try:
                await self._renew(lease)
                if await claims.rescue(self.database, idempotent, unsafe):
                    self.wake()
                clock = time.monotonic()
                if clock - last_stats >= _STATS_EVERY:
                    await self.refresh_stats()
                    last_stats = clock
                if clock - last_prune >= _PRUNE_EVERY and self.settings.retention > 0:
                    await claims.prune(self.database, self.kinds, self.settings.retention)
                    last_prune = clock
            except Exception:
                self.logger.warning("jobs: housekeeping failed; retrying", exc_info=True)
            await _wait_any((self._stop,), tick)

    async def _renew(self, lease: float) -> None:
        ids = [job_id for job_id, r in self._running.items() if not r.interrupted]
        ours = await claims.renew(self.database, self.id, ids, lease)
        for job_id in set(ids) - ours:
            item = self._running.get(job_id)
            if item is not None:
                self.logger.warning("job claim lost; stopping this attempt", extra=_about(item.job))
                item.interrupted = True
                item.task.cancel()

    async def refresh_stats(self) -> None:
        at = now()
        stats = await claims.queue_stats(self.database, self.kinds)
        for kind, entry in stats.items():
            self.metrics.queue(kind, entry["queued"], entry["dead"], entry["oldest_due"], at)


def _about(job: Job) -> dict[str, Any]:
    return {"metadata": {"job_id": job.id, "kind": job.kind, "attempt": job.attempt}}


async def _finish(task: asyncio.Task[None], logger: logging.Logger, grace: float = 10.0) -> None:
    """Let a loop that saw the stop signal end on its own (cancelling one in the middle of a
    database call can leave its connection unusable); cancel it only after ``grace``."""
    done, _ = await asyncio.wait([task], timeout=grace)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await task
        except Exception:
            logger.warning("jobs: a worker loop ended with an error", exc_info=True)


async def _wait_any(events: tuple[asyncio.Event, ...], timeout: float | None) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
