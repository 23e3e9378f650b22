"""Amazon Connect in the monitoring service: one poller per deployment, the latest snapshot in
the shared cache, and the ``aicc_connect_*`` gauges on every replica's ``/metrics``.

The periodic task ``monitoring.connect`` (every ``AICC_MONITORING_CONNECT_POLL_INTERVAL``) polls
with :class:`~aicc.monitoring.connect.ConnectPoller` and writes two cache entries: the snapshot
(``monitoring:connect:snapshot``, kept a few poll intervals, so a poller that keeps failing
stops showing old figures) and a small status (``monitoring:connect:status``: when the last
poll ran, when one last succeeded, the last error). ``/metrics`` reads only the status to learn
whether the snapshot changed (by its ``taken_at``); the gauges and their text exposition are
rebuilt only then, so a scrape appends cached text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from aicc.core.errors import NotFound
from aicc.core.jobs import JobContext, PeriodicTask
from aicc.monitoring.base import MonitoringBase
from aicc.monitoring.connect import Backoff, ConnectError, ConnectMetrics, ConnectPoller, Snapshot

logger = logging.getLogger("aicc.monitoring.connect")

SNAPSHOT_KEY = "monitoring:connect:snapshot"
STATUS_KEY = "monitoring:connect:status"
TASK = "monitoring.connect"
MESSAGE_LIMIT = 500


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def describe_error(exc: BaseException) -> dict[str, Any]:
    """What ``last_error`` shows of a failed poll: AWS's code and message, never the request
    (its signed headers) nor the credentials."""
    if isinstance(exc, ConnectError):
        found = {
            "operation": exc.operation,
            "code": exc.aws_code,
            "message": exc.message.removeprefix(f"{exc.operation}: {exc.aws_code}: "),
            "throttled": exc.throttled,
        }
    else:
        found = {"operation": None, "code": type(exc).__name__, "message": str(exc)}
        found["throttled"] = False
    found["message"] = str(found["message"])[:MESSAGE_LIMIT]
    return found


class ConnectMixin(MonitoringBase):
    """Polls Amazon Connect when ``CONNECT_INSTANCE_ID`` is set."""

    connect_backoff: Backoff = Backoff()
    """How long one poll keeps retrying throttled calls (its budget stays under the period)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connect_gauges = ConnectMetrics()
        self._connect_shown: float | None = None
        self._connect_poller: ConnectPoller | None = None

    @property
    def connect_instance_id(self) -> str | None:
        return self.settings.connect.instance_id or None

    @property
    def connect_ttl(self) -> float:
        """How long a snapshot stays shown after the poll that took it."""
        return max(60.0, 4 * self.settings.monitoring.connect_poll_interval)

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        tasks = list(super().periodic_tasks())
        if self.connect_instance_id:
            every = self.settings.monitoring.connect_poll_interval
            timeout = max(60.0, self.connect_backoff.budget + 2 * every)
            tasks.append(PeriodicTask(TASK, every=every, run=self._connect_job, timeout=timeout))
        return tasks

    async def _connect_job(self, _: JobContext) -> None:
        await self.poll_connect()

    def _poller(self, instance_id: str) -> ConnectPoller:
        poller = self._connect_poller
        if poller is None or poller.instance_id != instance_id:
            aws = self.resources.aws
            poller = ConnectPoller(
                lambda: aws.client("connect"), instance_id, backoff=self.connect_backoff
            )
            self._connect_poller = poller
        return poller

    async def poll_connect(self) -> dict[str, Any]:
        """Poll Connect once and publish the result to every replica; returns the status.

        A failed poll (throttled past the backoff budget, an unknown instance, no credentials,
        no answer) never raises: it is logged and becomes ``last_error``, and the previous
        snapshot stays until its time in the cache runs out."""
        instance_id = self._require_connect()
        cache = self.resources.cache
        status = await self._connect_status() or {}
        status.update(instance_id=instance_id, last_poll_at=iso(time.time()))
        try:
            snapshot = await self._poller(instance_id).poll()
        except Exception as exc:
            status["last_error"] = {"at": status["last_poll_at"], **describe_error(exc)}
            status["failures"] = int(status.get("failures", 0)) + 1
            logger.warning(
                "Amazon Connect poll failed: %s %s (%s consecutive)",
                status["last_error"]["code"],
                status["last_error"]["operation"] or "",
                status["failures"],
            )
        else:
            return await self.record_connect_snapshot(snapshot, status)
        await cache.set(STATUS_KEY, orjson.dumps(status), ttl=max(3600.0, 3 * self.connect_ttl))
        await self._show(status)
        return status

    async def record_connect_snapshot(
        self, snapshot: Snapshot, status: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Make ``snapshot`` the latest for every replica (what a successful poll does)."""
        instance_id = self._require_connect()
        if snapshot.instance_id != instance_id:
            raise ValueError(f"the snapshot is of instance {snapshot.instance_id}")
        status = dict(status or {})
        status.setdefault("instance_id", instance_id)
        status.setdefault("last_poll_at", iso(snapshot.taken_at))
        status.update(
            last_success_at=iso(snapshot.taken_at),
            taken_at=snapshot.taken_at,
            last_error=None,
            failures=0,
        )
        cache = self.resources.cache
        await cache.set(SNAPSHOT_KEY, orjson.dumps(snapshot.to_dict()), ttl=self.connect_ttl)
        await cache.set(STATUS_KEY, orjson.dumps(status), ttl=max(3600.0, 3 * self.connect_ttl))
        await self._show(status)
        return status

    def _require_connect(self) -> str:
        instance_id = self.connect_instance_id
        if not instance_id:
            raise NotFound(
                "Amazon Connect is not configured (set CONNECT_INSTANCE_ID)",
                code="connect_not_configured",
            )
        return instance_id

    async def _connect_status(self) -> dict[str, Any] | None:
        raw = await self.resources.cache.get(STATUS_KEY)
        if raw is None:
            return None
        found = orjson.loads(raw)
        if not isinstance(found, dict) or found.get("instance_id") != self.connect_instance_id:
            return None
        return found

    async def latest_connect_snapshot(self) -> Snapshot | None:
        """The latest snapshot any replica polled, while it is recent enough to show."""
        raw = await self.resources.cache.get(SNAPSHOT_KEY)
        if raw is None:
            return None
        snapshot = Snapshot.from_dict(orjson.loads(raw))
        return snapshot if snapshot.instance_id == self.connect_instance_id else None

    async def connect_metrics(self) -> dict[str, Any]:
        """``GET /connect/metrics``: the latest snapshot with the poller's status.

        ``status`` is ``waiting`` before the first poll, ``ok`` when the last poll succeeded,
        ``error`` when it failed (``snapshot`` is then the previous one, or null once that one
        is too old)."""
        instance_id = self._require_connect()
        status = await self._connect_status() or {}
        raw = await self.resources.cache.get(SNAPSHOT_KEY)
        snapshot = orjson.loads(raw) if raw is not None else None
        if snapshot is not None and snapshot.get("instance_id") != instance_id:
            snapshot = None
        if not status:
            state = "waiting"
        elif status.get("last_error"):
            state = "error"
        else:
            state = "ok" if snapshot is not None else "stale"
        return {
            "instance_id": instance_id,
            "status": state,
            "poll_interval_seconds": self.settings.monitoring.connect_poll_interval,
            "last_poll_at": status.get("last_poll_at"),
            "last_success_at": status.get("last_success_at"),
            "consecutive_failures": int(status.get("failures", 0)),
            "last_error": status.get("last_error"),
            "snapshot": snapshot,
        }

    async def _show(self, status: dict[str, Any] | None) -> None:
        """Bring this process's gauges to the shared snapshot when its ``taken_at`` moved, and
        drop them once the snapshot is too old to show."""
        wanted = None if status is None else status.get("taken_at")
        shown = self._connect_shown
        if shown is not None and wanted == shown and time.time() < shown + self.connect_ttl:
            return
        snapshot = await self.latest_connect_snapshot() if wanted is not None else None
        if snapshot is None:
            if self._connect_shown is not None:
                self._connect_gauges.clear()
                self._connect_shown = None
            return
        self._connect_gauges.update(snapshot)
        self._connect_shown = wanted

    async def refresh_metrics(self) -> None:
        await super().refresh_metrics()
        if not self.connect_instance_id or not self.started:
            return
        try:
            await self._show(await self._connect_status())
        except Exception:
            logger.warning("the Connect snapshot could not be read from the cache", exc_info=True)

    def extra_metrics(self) -> bytes:
        text = super().extra_metrics()
        if self._connect_shown is None:
            return text
        rendered = self._connect_gauges.render()
        return text + rendered if text else rendered
