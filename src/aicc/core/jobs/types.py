"""What a job is, what a handler declares, and how a handler asks for a retry or gives up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aicc.core.jobs.context import JobContext

DEFAULT_MAX_ATTEMPTS = 10


class JobState(StrEnum):
    QUEUED = "queued"
    """Waiting for ``run_at`` (new, scheduled, or waiting for a retry)."""
    RUNNING = "running"
    """Claimed by a worker whose lease is ``locked_until``."""
    COMPLETED = "completed"
    DEAD = "dead"
    """Out of attempts, permanently failed, or lost with an unknown outcome: kept with its
    last error until replayed or discarded."""
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    key: str | None
    payload: dict[str, Any]
    state: JobState
    attempt: int
    """Attempts started so far, this one included while it runs."""
    max_attempts: int
    run_at: datetime
    created_at: datetime
    finished_at: datetime | None = None
    last_error: str | None = None
    locked_by: str | None = None
    locked_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "payload": self.payload,
            "state": self.state.value,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "run_at": self.run_at,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "last_error": self.last_error,
            "locked_until": self.locked_until,
        }


class Retry(Exception):
    """Raise (or return) from a handler to run the job again after ``after`` seconds, e.g. a
    provider's ``Retry-After``; without ``after`` the handler's backoff decides. It counts as
    an attempt: after the last one the job is dead."""

    def __init__(self, reason: str = "retry requested", *, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class PermanentFailure(Exception):
    """Raise from a handler when retrying cannot help (a provider's 400): the job goes dead
    at once, with ``reason`` as its last error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


HandlerFunction = Callable[["JobContext"], Awaitable[Retry | None]]


@dataclass(frozen=True)
class JobHandler:
    """How one kind of job runs.

    ``idempotent``: running it twice does no harm (or it passes ``ctx.idempotency_key`` to the
    provider). A job whose attempt ended with an unknown outcome (its worker died, it timed out,
    a shutdown interrupted it) is run again only when this is true; otherwise it goes dead, so
    an operator decides whether to replay it.
    ``concurrency``: at most this many jobs of the kind run at once in the whole deployment.
    """

    kind: str
    run: HandlerFunction
    idempotent: bool = True
    timeout: float = 60.0
    concurrency: int | None = None
    backoff_base: float = 1.0
    backoff_max: float = 3600.0

    def __post_init__(self) -> None:
        if not self.kind or len(self.kind) > 120:
            raise ValueError("a job kind is 1 to 120 characters")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


@dataclass(frozen=True)
class PeriodicTask:
    """``run`` once every ``every`` seconds in the whole deployment, as a job of kind ``name``.

    ``in_leader``: run it in the leading replica's own process instead of as a job any worker
    may claim, for tasks whose state lives in that process (the monitoring evaluator's sample
    history): a run elsewhere would see another history. Such runs leave no job row; their
    context's :meth:`~aicc.core.jobs.JobContext.transaction` is not for them.
    """

    name: str
    every: float
    run: HandlerFunction
    timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)
    in_leader: bool = False

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("a periodic task runs at most once a second")

    @property
    def handler(self) -> JobHandler:
        return JobHandler(
            kind=self.name, run=self.run, timeout=self.timeout, concurrency=1, **self.options
        )
