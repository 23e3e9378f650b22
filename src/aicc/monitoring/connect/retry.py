"""Backing off when AWS throttles: exponential steps with full jitter, inside a time budget.

botocore's adaptive retry mode (``AICC_AWS_MAX_ATTEMPTS``) already retries a throttled call a
few times; this is the outer loop above it, so one busy minute on a shared account quota slows a
poll or a publish down instead of failing it, while the budget keeps a poll from overrunning its
period.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

THROTTLING_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to keep retrying throttled calls.

    ``attempts`` counts every try of one call (the first included). The n-th retry waits a
    random time up to ``min(cap, base * 2**n)`` seconds; ``budget`` caps the total waiting of
    one poll or publish, however many calls it makes.
    """

    attempts: int = 6
    base: float = 0.25
    cap: float = 8.0
    budget: float = 30.0

    def delay(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2**retry)
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


def error_code(error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code")
    return str(code) if code else "Unknown"


class Throttled(Exception):
    """Throttling outlasted the attempts or the budget; ``code`` is AWS's last answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RetryBudget:
    """The backoff state of one poll or publish: retries made, seconds waited."""

    def __init__(
        self,
        backoff: Backoff,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.backoff = backoff
        self.throttled = 0
        self.waited = 0.0
        self._sleep = sleep

    async def call(self, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> Any:
        """``await fn(**kwargs)``, retrying throttling answers; other errors propagate."""
        retry = 0
        while True:
            try:
                return await fn(**kwargs)
            except ClientError as exc:
                code = error_code(exc)
                if code not in THROTTLING_CODES:
                    raise
                self.throttled += 1
                delay = self.backoff.delay(retry)
                retry += 1
                if retry >= self.backoff.attempts:
                    raise Throttled(code, f"still throttled after {retry} attempts") from exc
                if self.waited + delay > self.backoff.budget:
                    raise Throttled(
                        code, f"throttled; the {self.backoff.budget:g} s retry budget is spent"
                    ) from exc
                self.waited += delay
                await self._sleep(delay)
