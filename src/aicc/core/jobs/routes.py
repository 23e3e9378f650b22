"""HTTP routes a wing mounts to let operators see and act on its jobs: list (dead letters
included), read, replay, discard. Only the kinds the wing runs are visible through them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from aicc.core.db import DbTransaction
from aicc.core.jobs.queue import discard_job, get_job, list_jobs, replay_job
from aicc.core.jobs.types import Job, JobState
from aicc.core.security import require_permission


class JobOut(BaseModel):
    id: int
    kind: str
    key: str | None
    payload: dict[str, Any]
    state: JobState
    attempt: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None
    locked_until: datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _out(job: Job) -> JobOut:
    return JobOut.model_validate(job.as_dict())


def jobs_router(
    kinds: Callable[[], Sequence[str]],
    *,
    read_permission: str = "system:manage",
    manage_permission: str = "system:manage",
    prefix: str = "/jobs",
    tag: str = "jobs",
) -> APIRouter:
    """Routes over the jobs of ``kinds()`` (read when a request arrives)."""
    router = APIRouter(prefix=prefix, tags=[tag])
    reader = [Depends(require_permission(read_permission))]
    manager = [Depends(require_permission(manage_permission))]

    @router.get(
        "",
        response_model=JobPage,
        summary="Jobs, newest first (dead letters: state=dead)",
        dependencies=reader,
    )
    async def list_route(
        conn: DbTransaction,
        state: Annotated[list[JobState] | None, Query()] = None,
        kind: Annotated[str | None, Query(max_length=120)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    ) -> JobPage:
        visible = list(kinds())
        wanted = visible if kind is None else [k for k in visible if k == kind]
        jobs, total = await list_jobs(conn, kinds=wanted, states=state, limit=limit, offset=offset)
        return JobPage(items=[_out(j) for j in jobs], total=total, limit=limit, offset=offset)

    @router.get("/{job_id}", response_model=JobOut, summary="One job", dependencies=reader)
    async def get_route(job_id: JobId, conn: DbTransaction) -> JobOut:
        return _out(await get_job(conn, job_id, kinds=list(kinds())))

    @router.post(
        "/{job_id}/replay",
        response_model=JobOut,
        summary="Run a dead job again",
        dependencies=manager,
    )
    async def replay_route(job_id: JobId, conn: DbTransaction) -> JobOut:
        return _out(await replay_job(conn, job_id, kinds=list(kinds())))

    @router.post(
        "/{job_id}/discard", response_model=JobOut, summary="Give up on a job", dependencies=manager
    )
    async def discard_route(job_id: JobId, conn: DbTransaction) -> JobOut:
        return _out(await discard_job(conn, job_id, kinds=list(kinds())))

    return router
