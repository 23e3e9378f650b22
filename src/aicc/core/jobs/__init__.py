"""Durable background jobs in the database every service already has.

Enqueue inside the transaction that writes the row causing the job (the transactional
outbox); workers in each service process run the kinds they have handlers for. See
``docs/jobs.md``.
"""

from aicc.core.jobs.context import ClaimLost, JobContext
from aicc.core.jobs.queue import (
    discard_job,
    enqueue,
    enqueue_many,
    get_job,
    list_jobs,
    replay_job,
)
from aicc.core.jobs.types import (
    DEFAULT_MAX_ATTEMPTS,
    Job,
    JobHandler,
    JobState,
    PeriodicTask,
    PermanentFailure,
    Retry,
)
from aicc.core.jobs.worker import JobWorker

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ClaimLost",
    "Job",
    "JobContext",
    "JobHandler",
    "JobState",
    "JobWorker",
    "PeriodicTask",
    "PermanentFailure",
    "Retry",
    "discard_job",
    "enqueue",
    "enqueue_many",
    "get_job",
    "list_jobs",
    "replay_job",
]
