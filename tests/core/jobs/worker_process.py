"""A job worker in its own process, for tests that kill it: ``python -m
tests.core.jobs.worker_process DATABASE_URL LEASE``.

It runs ``test.crash`` jobs (each sleeps, then records its run in ``test_crash_runs`` in the
transaction that completes the job) and leads the periodic task ``test.crash-tick`` (each run
recorded in ``test_crash_ticks``). It prints ``ready`` once working, then runs until killed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Float, Integer, MetaData, String, Table

from aicc.core.config import JobsSettings
from aicc.core.db import Database
from aicc.core.jobs import JobContext, JobHandler, JobWorker, PeriodicTask
from aicc.core.jobs.metrics import JobMetrics

tables = MetaData()
crash_runs = Table("test_crash_runs", tables, Column("job_id", Integer), Column("pid", Integer))
crash_ticks = Table(
    "test_crash_ticks", tables, Column("pid", Integer), Column("at", Float), Column("k", String)
)


async def record_run(ctx: JobContext) -> None:
    await asyncio.sleep(float(ctx.payload.get("sleep", 0.2)))
    async with ctx.transaction() as conn:
        await conn.execute(crash_runs.insert().values(job_id=ctx.job.id, pid=os.getpid()))


async def record_tick(ctx: JobContext) -> None:
    async with ctx.transaction() as conn:
        await conn.execute(
            crash_ticks.insert().values(
                pid=os.getpid(), at=asyncio.get_running_loop().time(), k=ctx.job.key
            )
        )


async def main(url: str, lease: float) -> None:
    database = Database(url)
    worker = JobWorker(
        database,
        service="crash-test",
        settings=JobsSettings(_env_file=None, lease=lease, poll_interval=0.5, concurrency=50),
        metrics=JobMetrics(CollectorRegistry()),
        handlers=[JobHandler("test.crash", record_run, timeout=30)],
        periodic=[PeriodicTask("test.crash-tick", every=1, run=record_tick)],
    )
    await worker.start()
    print("ready", flush=True)  # noqa: T201 (the test waits for this line)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
