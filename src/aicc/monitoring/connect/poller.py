"""Polls Amazon Connect's real-time APIs into a :class:`Snapshot`.

One poll makes, one after another (Connect's real-time APIs share a small per-account rate
quota, so calls are never fanned out):

1. ``ListQueues`` (STANDARD queues, 1,000 a page);
2. ``GetCurrentMetricData`` per 100 queues, filtered by the polled channels and grouped by
   QUEUE and CHANNEL, so ``OLDEST_CONTACT_AGE`` arrives in seconds;
3. ``GetCurrentUserData`` per 100 queues, each agent counted once;
4. ``ListRoutingProfileQueues`` for each routing profile the agents use that is not cached
   (``routing_profile_ttl``): an agent's queues are its routing profile's, which is how the
   agent states are counted per queue.

Every call follows ``NextToken``. Throttling is retried with :class:`Backoff`; anything else,
or throttling past the budget, raises :class:`ConnectError` and the poll yields nothing (the
previous snapshot stays the latest).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from aicc.core.errors import AppError
from aicc.monitoring.connect.retry import Backoff, RetryBudget, Throttled, error_code
from aicc.monitoring.connect.snapshot import (
    ACTIVITIES,
    CHANNELS,
    METRICS,
    METRICS_BY_NAME,
    QueueInfo,
    Snapshot,
    agent_activity,
)

logger = logging.getLogger("aicc.monitoring.connect")

ClientFactory = Callable[[], Awaitable[Any]]
"""Returns an aiobotocore client (``lambda: aws.client("connect")``); called once per poll."""

FILTER_LIMIT = 100
"""Queues per ``GetCurrentMetricData`` / ``GetCurrentUserData`` request (the API's limit)."""


class ConnectError(AppError):
    """Connect refused or failed a call; ``aws_code`` is AWS's error code (or botocore's
    exception name when the call never got an answer)."""

    status_code: ClassVar[int] = 502
    code: ClassVar[str] = "connect_error"
    message = "Amazon Connect call failed"

    def __init__(
        self, operation: str, aws_code: str, message: str, *, throttled: bool = False
    ) -> None:
        super().__init__(
            f"{operation}: {aws_code}: {message}",
            details={"operation": operation, "aws_code": aws_code, "throttled": throttled},
        )
        self.operation = operation
        self.aws_code = aws_code
        self.throttled = throttled


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class _Poll:
    """The calls of one poll, with their count and shared retry budget."""

    def __init__(self, client: Any, instance_id: str, backoff: Backoff) -> None:
        self.client = client
        self.instance_id = instance_id
        self.budget = RetryBudget(backoff)
        self.calls = 0

    async def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        self.calls += 1
        try:
            result: dict[str, Any] = await self.budget.call(
                method, InstanceId=self.instance_id, **kwargs
            )
        except Throttled as exc:
            raise ConnectError(operation, exc.code, str(exc), throttled=True) from exc
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message") or str(exc)
            raise ConnectError(operation, error_code(exc), message) from exc
        except BotoCoreError as exc:
            raise ConnectError(operation, type(exc).__name__, str(exc)) from exc
        return result

    async def pages(self, operation: str, key: str, **kwargs: Any) -> Any:
        """Every item under ``key`` of every page; ``NextToken`` is resent with the same
        parameters, as Connect requires."""
        items: list[Any] = []
        token: str | None = None
        while True:
            page = await self.call(operation, **kwargs, **({"NextToken": token} if token else {}))
            items.extend(page.get(key) or ())
            token = page.get("NextToken")
            if not token:
                return items


class ConnectPoller:
    """Real-time queue metrics and agent states of one Connect instance.

    Run one per deployment (a platform periodic task); each :meth:`poll` is independent
    except for the cache of routing-profile queues, which only saves calls.
    """

    def __init__(
        self,
        client_factory: ClientFactory,
        instance_id: str,
        *,
        channels: Iterable[str] = ("VOICE", "CHAT", "TASK"),
        metrics: Iterable[str] | None = None,
        max_queues: int = 500,
        agent_states: bool = True,
        page_size: int = 100,
        routing_profile_ttl: float = 300.0,
        backoff: Backoff | None = None,
    ) -> None:
        """``metrics``: Connect metric names (default: every name in ``METRICS``).
        ``max_queues``: the most queues polled (by name order), bounding the series exported;
        a snapshot says when more exist. ``agent_states=False`` skips the user-data calls."""
        self.client_factory = client_factory
        self.instance_id = instance_id
        self.channels = tuple(channels)
        unknown = set(self.channels) - CHANNELS
        if unknown or not self.channels:
            raise ValueError(f"channels must be some of {sorted(CHANNELS)}, not {sorted(unknown)}")
        self.metrics = tuple(m.name for m in METRICS) if metrics is None else tuple(metrics)
        unknown = set(self.metrics) - set(METRICS_BY_NAME)
        if unknown or not self.metrics:
            raise ValueError(f"metrics must be some of {sorted(METRICS_BY_NAME)}")
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be 1..100")
        self.max_queues = max_queues
        self.agent_states = agent_states
        self.page_size = page_size
        self.routing_profile_ttl = routing_profile_ttl
        self.backoff = backoff or Backoff()
        self._profiles: dict[str, tuple[float, frozenset[str]]] = {}

    async def poll(self, now: float | None = None) -> Snapshot:
        """One snapshot, stamped ``now`` (epoch seconds; default: the clock)."""
        started = time.perf_counter()
        taken_at = time.time() if now is None else now
        poll = _Poll(await self.client_factory(), self.instance_id, self.backoff)
        queues, truncated = await self._queues(poll)
        snapshot = Snapshot(
            instance_id=self.instance_id,
            taken_at=taken_at,
            channels=self.channels,
            metrics=self.metrics,
            queues={q.id: q for q in queues},
            truncated=truncated,
        )
        await self._metric_data(poll, snapshot)
        if self.agent_states:
            await self._user_data(poll, snapshot, taken_at)
        snapshot.calls = poll.calls
        snapshot.throttled = poll.budget.throttled
        snapshot.duration_seconds = time.perf_counter() - started
        return snapshot

    async def _queues(self, poll: _Poll) -> tuple[list[QueueInfo], bool]:
        found = await poll.pages(
            "list_queues", "QueueSummaryList", QueueTypes=["STANDARD"], MaxResults=1000
        )
        queues = sorted(
            (
                QueueInfo(q["Id"], q.get("Arn", ""), q.get("Name") or q["Id"])
                for q in found
                if q.get("QueueType", "STANDARD") == "STANDARD"
            ),
            key=lambda q: (q.name, q.id),
        )
        if len(queues) > self.max_queues:
            logger.warning(
                "Connect instance %s has %d queues; polling the first %d by name (max_queues)",
                self.instance_id,
                len(queues),
                self.max_queues,
            )
            return queues[: self.max_queues], True
        return queues, False

    async def _metric_data(self, poll: _Poll, snapshot: Snapshot) -> None:
        wanted = [METRICS_BY_NAME[name] for name in self.metrics]
        current = [{"Name": m.name, "Unit": m.unit} for m in wanted]
        ids = list(snapshot.queues)
        for chunk in _chunks(ids, FILTER_LIMIT):
            token: str | None = None
            while True:
                page = await poll.call(
                    "get_current_metric_data",
                    Filters={"Queues": chunk, "Channels": list(self.channels)},
                    Groupings=["QUEUE", "CHANNEL"],
                    CurrentMetrics=current,
                    MaxResults=self.page_size,
                    **({"NextToken": token} if token else {}),
                )
                self._read_metric_page(page, snapshot)
                token = page.get("NextToken")
                if not token:
                    break
        for queue_id in ids:
            for channel in self.channels:
                row = snapshot.values.setdefault((queue_id, channel), {})
                for metric in wanted:
                    row.setdefault(metric.name, metric.fill)

    @staticmethod
    def _read_metric_page(page: dict[str, Any], snapshot: Snapshot) -> None:
        stamp = page.get("DataSnapshotTime")
        if isinstance(stamp, datetime):
            seen = stamp.timestamp()
            if snapshot.data_snapshot_time is None or seen > snapshot.data_snapshot_time:
                snapshot.data_snapshot_time = seen
        for result in page.get("MetricResults") or ():
            dimensions = result.get("Dimensions") or {}
            queue_id = (dimensions.get("Queue") or {}).get("Id")
            channel = dimensions.get("Channel")
            if queue_id not in snapshot.queues or channel not in snapshot.channels:
                continue
            row = snapshot.values.setdefault((queue_id, channel), {})
            for item in result.get("Collections") or ():
                name = (item.get("Metric") or {}).get("Name")
                if name in snapshot.metrics:
                    value = item.get("Value")
                    row[name] = None if value is None else float(value)

    async def _user_data(self, poll: _Poll, snapshot: Snapshot, now: float) -> None:
        for cached, (fetched, _) in list(self._profiles.items()):
            if not 0 <= now - fetched < self.routing_profile_ttl:
                del self._profiles[cached]
        agents: dict[str, tuple[str | None, str]] = {}
        for chunk in _chunks(list(snapshot.queues), FILTER_LIMIT):
            users = await poll.pages(
                "get_current_user_data",
                "UserDataList",
                Filters={"Queues": chunk},
                MaxResults=self.page_size,
            )
            for user in users:
                user_id = (user.get("User") or {}).get("Id")
                if user_id:
                    routing = (user.get("RoutingProfile") or {}).get("Id")
                    agents[user_id] = (routing, agent_activity(user))
        per_queue = {queue_id: dict.fromkeys(ACTIVITIES, 0) for queue_id in snapshot.queues}
        overall = dict.fromkeys(ACTIVITIES, 0)
        for profile, activity in agents.values():
            overall[activity] = overall.get(activity, 0) + 1
            if profile is None:
                continue
            for queue_id in await self._profile_queues(poll, profile, now):
                counts = per_queue.get(queue_id)
                if counts is not None:
                    counts[activity] = counts.get(activity, 0) + 1
        snapshot.agent_states = per_queue
        snapshot.instance_agent_states = overall

    async def _profile_queues(self, poll: _Poll, profile: str, now: float) -> frozenset[str]:
        cached = self._profiles.get(profile)
        if cached is not None and 0 <= now - cached[0] < self.routing_profile_ttl:
            return cached[1]
        try:
            entries = await poll.pages(
                "list_routing_profile_queues",
                "RoutingProfileQueueConfigSummaryList",
                RoutingProfileId=profile,
                MaxResults=100,
            )
        except ConnectError as exc:
            if exc.aws_code != "ResourceNotFoundException":
                raise
            entries = []  # deleted since the agent data was read
        queues = frozenset(e["QueueId"] for e in entries if e.get("QueueId"))
        self._profiles[profile] = (now, queues)
        return queues
