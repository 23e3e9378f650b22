"""A job worker process for ``bench/jobs.py``:
``python bench/jobs_worker.py URL CONCURRENCY LEASE``.

Kinds it runs:
- ``bench.noop``: does nothing (throughput);
- ``bench.stamp``: records when it started, wall clock (latency);
- ``bench.record``: sleeps ``payload["sleep"]`` seconds, then records its run in
  ``bench_job_runs`` in the transaction that completes the job (kill -9 recovery).

Prints ``ready`` once working, then runs until SIGTERM (graceful stop) or SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Float, Integer, MetaData, Table

from aicc.core.config import JobsSettings
from aicc.core.db import Database
from aicc.core.jobs import JobContext, JobHandler, JobWorker
from aicc.core.jobs.metrics import JobMetrics

tables = MetaData()
runs = Table("bench_job_runs", tables, Column("job_id", Integer), Column("pid", Integer))
stamps = Table("bench_job_stamps", tables, Column("job_id", Integer), Column("started", Float))


async def noop(_: JobContext) -> None:
    return None


async def stamp(ctx: JobContext) -> None:
    started = time.time()
    async with ctx.transaction() as conn:
        await conn.execute(stamps.insert().values(job_id=ctx.job.id, started=started))


async def record(ctx: JobContext) -> None:
    await asyncio.sleep(float(ctx.payload.get("sleep", 0.5)))
    async with ctx.transaction() as conn:
        await conn.execute(runs.insert().values(job_id=ctx.job.id, pid=os.getpid()))


async def main(url: str, concurrency: int, lease: float) -> None:
    database = Database(url)
    settings = JobsSettings(_env_file=None, concurrency=concurrency, lease=lease)
    worker = JobWorker(
        database,
        service="bench",
        settings=settings,
        metrics=JobMetrics(CollectorRegistry()),
        handlers=[
            JobHandler("bench.noop", noop),
            JobHandler("bench.stamp", stamp),
            JobHandler("bench.record", record, timeout=60),
        ],
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    print("ready", flush=True)
    await stop.wait()
    await worker.stop(10)
    await database.close()


if __name__ == "__main__":
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
