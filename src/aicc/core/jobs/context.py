"""What a handler receives: the job, and a transaction that completes the job with the
handler's own writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.db import Database
from aicc.core.jobs.claims import complete_in
from aicc.core.jobs.types import Job


class ClaimLost(Exception):
    """This worker's claim on the job lapsed and another worker took it: nothing was written."""


@dataclass
class JobContext:
    job: Job
    database: Database
    worker_id: str
    completed: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def attempt(self) -> int:
        return self.job.attempt

    @property
    def idempotency_key(self) -> str:
        """The same on every attempt of this job: pass it to providers that deduplicate."""
        return f"aicc-job-{self.job.id}"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction whose commit also completes the job, exactly once.

        Writes made here and the job's completion commit together or not at all; if another
        worker has taken the job meanwhile (this one stalled past its lease), nothing commits
        and :class:`ClaimLost` is raised. Use it for the job's last step.
        """
        async with self.database.transaction() as conn:
            yield conn
            if await complete_in(conn, self.worker_id, [self.job.id]) != 1:
                raise ClaimLost(f"job {self.job.id} is no longer claimed by this worker")
        self.completed = True
