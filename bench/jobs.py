"""The jobs facility (``aicc.core.jobs``): throughput, wake-up latency and kill -9 recovery.

    .venv/bin/python bench/jobs.py [--jobs 30000] [--quick] [--output bench/results/jobs.json]

- ``postgres_throughput``: no-op jobs enqueued (batches of 500 per transaction) while two
  worker processes run them, on a scratch PostgreSQL database; jobs/s from the first enqueue
  to the last completion. Baseline in the same run: the same claim/complete SQL on raw
  asyncpg in one process with no framework (``raw_ratio`` = ours / raw).
- ``sqlite_throughput``: the same on the embedded SQLite database, producer and worker in one
  process as under ``aicc up``; baseline: the same SQL on the standard ``sqlite3`` module.
- ``*_latency``: on an idle system, one job at a time; from just before the enqueuing
  transaction begins to the handler's first line (wall clock), p50/p99/max.
- ``postgres_kill9``: two workers with 600 slots each run 3,000 jobs that sleep 2 s and record
  their run in the transaction that completes them; once at least 1,000 are in flight one
  worker gets SIGKILL and a replacement starts. Every job must complete exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from fastapi_users_bench import PG_DSN
from harness import emit, environment, log
from jobs_worker import noop, runs, stamp, stamps, tables
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from aicc.core.config import JobsSettings
from aicc.core.db import Database
from aicc.core.jobs import JobHandler, JobState, JobWorker, enqueue, enqueue_many
from aicc.core.jobs.metrics import JobMetrics
from aicc.core.jobs.models import job_table
from aicc.core.migrate import upgrade

HERE = Path(__file__).resolve().parent
BATCH = 500
TARGETS = {"postgres_jobs_per_s": 3000, "sqlite_jobs_per_s": 1000, "latency_p99_ms": 50}


class Workers:
    """``bench/jobs_worker.py`` processes on one database."""

    def __init__(self, url: str, count: int, *, concurrency: int = 100, lease: float = 30) -> None:
        self.url, self.concurrency, self.lease = url, concurrency, lease
        self.procs = [self.start() for _ in range(count)]

    def start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "jobs_worker.py"),
                self.url,
                str(self.concurrency),
                str(self.lease),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a worker process did not start")
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@asynccontextmanager
async def postgres() -> AsyncIterator[str]:
    """A scratch database ``bench_jobs_<random>``, dropped afterwards."""
    name = f"bench_jobs_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{PG_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _count(database: Database, kind: str, state: JobState | None = None) -> int:
    query = select(func.count()).where(job_table.c.kind == kind)
    if state is not None:
        query = query.where(job_table.c.state == state.value)
    async with database.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _produce(database: Database, kind: str, n: int) -> float:
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        async with database.transaction() as conn:
            await enqueue_many(conn, kind, [{"i": i} for i in range(first, min(n, first + BATCH))])
    return time.perf_counter() - started


async def _until(database: Database, kind: str, state: JobState, n: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while await _count(database, kind, state) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{kind}: not {n} {state} within {limit}s")
        await asyncio.sleep(0.02)


async def throughput(database: Database, n: int) -> dict[str, Any]:
    started = time.perf_counter()
    producer = asyncio.create_task(_produce(database, "bench.noop", n))
    await _until(database, "bench.noop", JobState.COMPLETED, n, 600)
    total = time.perf_counter() - started
    enqueue_seconds = await producer
    return {
        "jobs": n,
        "seconds": round(total, 3),
        "jobs_per_s": round(n / total, 1),
        "enqueue_per_s": round(n / enqueue_seconds, 1),
    }


async def latency(database: Database, samples: int) -> dict[str, Any]:
    gaps = []
    for i in range(samples):
        before = time.time()
        async with database.transaction() as conn:
            job = await enqueue(conn, "bench.stamp", {"i": i})
        started = await _stamp_of(database, job.id)
        gaps.append((started - before) * 1000)
        await asyncio.sleep(0.02)
    gaps.sort()
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(gaps), 2),
        "p99_ms": round(gaps[int(len(gaps) * 0.99) - 1], 2),
        "max_ms": round(gaps[-1], 2),
    }


async def _stamp_of(database: Database, job_id: int) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with database.connect() as conn:
            found = (
                await conn.execute(select(stamps.c.started).where(stamps.c.job_id == job_id))
            ).scalar_one_or_none()
        if found is not None:
            return float(found)
        await asyncio.sleep(0.002)
    raise SystemExit(f"job {job_id} did not start within 10 s")


async def prepared(url: str) -> Database:
    database = Database(url)
    await upgrade(database)
    async with database.transaction() as conn:
        await conn.run_sync(tables.create_all)
    return database


async def raw_postgres(url: str, n: int) -> dict[str, Any]:
    """The same claim/complete SQL on raw asyncpg, one process, no framework."""
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE raw_job (id bigserial PRIMARY KEY, state text NOT NULL,"
        " payload jsonb NOT NULL, run_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.execute("CREATE INDEX ON raw_job (state, run_at)")
    pool = await asyncpg.create_pool(url, min_size=3, max_size=3)
    started = time.perf_counter()

    async def produce() -> None:
        for first in range(0, n, BATCH):
            size = min(BATCH, n - first)
            await pool.execute(
                "INSERT INTO raw_job (state, payload) SELECT 'queued', '{}'::jsonb"
                " FROM generate_series(1, $1)",
                size,
            )

    async def consume() -> None:
        done = 0
        while done < n:
            ids = [
                r["id"]
                for r in await pool.fetch(
                    "UPDATE raw_job SET state = 'running' WHERE id IN (SELECT id FROM raw_job "
                    "WHERE state = 'queued' AND run_at <= now() ORDER BY run_at, id LIMIT 100 "
                    "FOR UPDATE SKIP LOCKED) RETURNING id"
                )
            ]
            if ids:
                await pool.execute("UPDATE raw_job SET state = 'done' WHERE id = ANY($1)", ids)
                done += len(ids)
            else:
                await asyncio.sleep(0.001)

    await asyncio.gather(produce(), consume())
    total = time.perf_counter() - started
    await pool.close()
    await conn.close()
    return {"jobs": n, "seconds": round(total, 3), "jobs_per_s": round(n / total, 1)}


def raw_sqlite(path: Path, n: int) -> dict[str, Any]:
    """The same work on the standard sqlite3 module in one thread, no framework."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE raw_job (id INTEGER PRIMARY KEY, state TEXT, payload TEXT)")
    started = time.perf_counter()
    produced = done = 0
    while done < n:
        if produced < n:
            size = min(BATCH, n - produced)
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO raw_job (state, payload) VALUES ('queued', '{}')", [()] * size
            )
            db.execute("COMMIT")
            produced += size
        db.execute("BEGIN IMMEDIATE")
        ids = [
            r[0]
            for r in db.execute(
                "UPDATE raw_job SET state = 'running' WHERE id IN (SELECT id FROM raw_job WHERE "
                "state = 'queued' ORDER BY id LIMIT 100) RETURNING id"
            )
        ]
        db.execute("COMMIT")
        if ids:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE raw_job SET state = 'done' WHERE id = ?", [(i,) for i in ids])
            db.execute("COMMIT")
            done += len(ids)
    total = time.perf_counter() - started
    db.close()
    return {"jobs": n, "seconds": round(total, 3), "jobs_per_s": round(n / total, 1)}


async def postgres_benchmarks(n: int, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with postgres() as url:
        database = await prepared(url)
        workers = Workers(url, 2, concurrency=100)
        try:
            log(f"postgres: {n} no-op jobs, 2 worker processes")
            out["postgres_throughput"] = await throughput(database, n)
            await asyncio.sleep(1)
            log(f"postgres: latency, {samples} jobs one at a time")
            out["postgres_latency"] = await latency(database, samples)
        finally:
            workers.stop()
            await database.close()
        log("postgres: raw asyncpg baseline")
        out["postgres_raw_baseline"] = await raw_postgres(url, n)
    out["postgres_throughput"]["raw_ratio"] = round(
        out["postgres_throughput"]["jobs_per_s"] / out["postgres_raw_baseline"]["jobs_per_s"], 3
    )
    return out


async def kill9(total: int = 3000, in_flight: int = 1000) -> dict[str, Any]:
    lease = 5.0
    async with postgres() as url:
        database = await prepared(url)
        async with database.transaction() as conn:
            jobs = await enqueue_many(conn, "bench.record", [{"sleep": 2}] * total)
        ids = {j.id for j in jobs}
        workers = Workers(url, 2, concurrency=600, lease=lease)
        try:
            await _until(database, "bench.record", JobState.RUNNING, in_flight, 60)
            running = await _count(database, "bench.record", JobState.RUNNING)
            victim = workers.procs[0]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            killed = time.monotonic()
            log(f"kill -9: killed a worker with {running} jobs in flight in the deployment")
            workers.procs[0] = workers.start()
            await _until(database, "bench.record", JobState.COMPLETED, total, 300)
            finished = time.monotonic() - killed
        finally:
            workers.stop()
        async with database.connect() as conn:
            per_job = {
                r[0]: r[1]
                for r in await conn.execute(
                    select(runs.c.job_id, func.count()).group_by(runs.c.job_id)
                )
            }
        await database.close()
    return {
        "jobs": total,
        "in_flight_at_kill": running,
        "lease_s": lease,
        "all_completed_s_after_kill": round(finished, 2),
        "completed": len(per_job),
        "missing": len(ids - set(per_job)),
        "completed_twice": sum(1 for count in per_job.values() if count > 1),
    }


async def sqlite_benchmarks(n: int, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        database = await prepared(f"sqlite:///{tmp}/aicc.db")
        worker = JobWorker(
            database,
            service="bench",
            settings=JobsSettings(_env_file=None, concurrency=100),
            metrics=JobMetrics(CollectorRegistry()),
            handlers=[JobHandler("bench.noop", noop), JobHandler("bench.stamp", stamp)],
        )
        await worker.start()
        try:
            log(f"sqlite: {n} no-op jobs, producer and worker in one process")
            out["sqlite_throughput"] = await throughput(database, n)
            log(f"sqlite: latency, {samples} jobs one at a time")
            out["sqlite_latency"] = await latency(database, samples)
        finally:
            await worker.stop(10)
            await database.close()
        log("sqlite: raw sqlite3 baseline")
        out["sqlite_raw_baseline"] = raw_sqlite(Path(tmp) / "raw.db", n)
    out["sqlite_throughput"]["raw_ratio"] = round(
        out["sqlite_throughput"]["jobs_per_s"] / out["sqlite_raw_baseline"]["jobs_per_s"], 3
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="3,000 jobs, 50 samples, no kill -9")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    n, samples = (3000, 50) if args.quick else (args.jobs, args.samples)
    result: dict[str, Any] = {"environment": environment(jobs=n, latency_samples=samples)}
    result.update(asyncio.run(postgres_benchmarks(n, samples)))
    result.update(asyncio.run(sqlite_benchmarks(max(n // 3, 1000), samples)))
    if not args.quick:
        log("postgres: kill -9 with 1,000 jobs in flight")
        result["postgres_kill9"] = asyncio.run(kill9())
    result["targets_met"] = {
        "postgres_jobs_per_s": result["postgres_throughput"]["jobs_per_s"]
        >= TARGETS["postgres_jobs_per_s"],
        "sqlite_jobs_per_s": result["sqlite_throughput"]["jobs_per_s"]
        >= TARGETS["sqlite_jobs_per_s"],
        "postgres_latency_p99_ms": result["postgres_latency"]["p99_ms"] < TARGETS["latency_p99_ms"],
        "sqlite_latency_p99_ms": result["sqlite_latency"]["p99_ms"] < TARGETS["latency_p99_ms"],
    }
    if "postgres_kill9" in result:
        k = result["postgres_kill9"]
        result["targets_met"]["kill9_exactly_once"] = (
            k["missing"] == 0 and k["completed_twice"] == 0 and k["completed"] == k["jobs"]
        )
    emit(result, args.output)


if __name__ == "__main__":
    main()
