"""Alertmanager's dispatcher over shared state: alerts are stored and merged, routed into
aggregation groups, and the groups flush on their timers with silences and inhibition
applied. Each notification becomes a ``monitoring.notification`` job, enqueued in the
transaction that saves the group's new notification log, so a group state is notified once
however many replicas run.

Every round holds the ``monitoring.dispatch`` lock (a PostgreSQL advisory lock, SQLite's
write lock): rounds of the evaluator, of pushed alerts and of the ``monitoring.groups``
task never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import BadRequest
from aicc.core.jobs import JobContext, PeriodicTask, enqueue
from aicc.monitoring.alertmanager import (
    Alert,
    GroupState,
    Matcher,
    Notification,
    RouteMatch,
    RoutingConfig,
    disposable,
    due,
    flush,
    muter,
    parse_matchers,
    postable_alerts,
    put,
    update,
)
from aicc.monitoring.base import MonitoringBase
from aicc.monitoring.notify_store import (
    StoredAlert,
    all_groups,
    channel_names,
    delete_alerts_ended_before,
    delete_groups,
    due_groups,
    idle_groups,
    load_alerts,
    load_groups,
    load_routing,
    load_silences,
    save_alert,
    save_group,
)

NOTIFY_KIND = "monitoring.notification"
DISPATCH_LOCK = "monitoring.dispatch"
NOTIFY_MAX_ATTEMPTS = 20
RESOLVED_RETENTION = 3600.0
"""Seconds a resolved alert stays in the store (Alertmanager drops them at its next GC)."""


class AlertDispatch(MonitoringBase):
    """Routing, grouping, muting and the notification jobs they produce."""

    started_at: float = 0.0

    async def on_start(self) -> None:
        await super().on_start()
        self.started_at = time.time()

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        return [
            *super().periodic_tasks(),
            PeriodicTask("monitoring.groups", every=1, run=self._groups_job),
            PeriodicTask("monitoring.groups-gc", every=60, run=self._gc_job),
        ]

    async def _groups_job(self, _: JobContext) -> None:
        await self.flush_groups()

    async def _gc_job(self, _: JobContext) -> None:
        await self.collect_garbage()

    async def dispatch_alerts(
        self,
        alerts: list[Any],
        extra_receivers: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Route, group and (for groups due now) notify ``alerts``. ``extra_receivers`` maps
        an alert's fingerprint to the ``channels`` of the rule that raised it: receivers
        added to those of the route tree (an alert sent again without an entry keeps the
        ones stored with it)."""
        await self.dispatch(alerts, extra_receivers)

    async def dispatch(
        self,
        alerts: Sequence[Alert],
        extra_receivers: Mapping[str, Sequence[str]] | None = None,
        *,
        now: float | None = None,
    ) -> list[Notification]:
        """:meth:`dispatch_alerts`, returning the notifications enqueued."""
        if not alerts:
            return []
        at = time.time() if now is None else now
        extra = extra_receivers or {}
        database = self.resources.database
        async with database.locked_transaction(DISPATCH_LOCK) as conn:
            routing = await load_routing(conn)
            stored = await load_alerts(conn, [a.fingerprint for a in alerts])
            for alert in alerts:
                previous = stored.get(alert.fingerprint)
                receivers = extra.get(alert.fingerprint)
                if receivers is None:
                    receivers = previous.receivers if previous else ()
                merged = put(previous.alert if previous else None, alert, at)
                stored[alert.fingerprint] = StoredAlert(merged, tuple(receivers))
            routed: dict[str, tuple[RouteMatch, list[Alert]]] = {}
            for fp in dict.fromkeys(a.fingerprint for a in alerts):
                entry = stored[fp]
                await save_alert(conn, entry)
                for match in routing.match(entry.alert.labels, entry.receivers):
                    routed.setdefault(match.group_id, (match, []))[1].append(entry.alert)
            groups = await load_groups(conn, routed)
            changed: dict[str, GroupState] = {}
            for group_id, (match, items) in routed.items():
                group = groups.get(group_id) or GroupState.new(match)
                if _timings(group) != _timings(match):
                    group = group.with_route(match)
                changed[group_id] = update(group, items, at)
            ready = {gid: g for gid, g in changed.items() if due(g, at)}
            for gid, group in changed.items():
                if gid not in ready:
                    await save_group(conn, group)
            return await self._flush(conn, ready, routing, at)

    async def flush_groups(self, *, now: float | None = None) -> list[Notification]:
        """Flush every group whose timer has run out (the ``monitoring.groups`` task)."""
        at = time.time() if now is None else now
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            groups = await due_groups(conn, at)
            if not groups:
                return []
            return await self._flush(conn, groups, await load_routing(conn), at)

    async def collect_garbage(self, *, now: float | None = None) -> None:
        """Drop empty groups whose notification log has expired and long-resolved alerts."""
        at = time.time() if now is None else now
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            gone = [g.group_id for g in await idle_groups(conn) if disposable(g, at)]
            await delete_groups(conn, gone)
            await delete_alerts_ended_before(conn, at - RESOLVED_RETENTION)

    async def _flush(
        self,
        conn: AsyncConnection,
        groups: Mapping[str, GroupState],
        routing: RoutingConfig,
        now: float,
    ) -> list[Notification]:
        if not groups:
            return []
        send_resolved = await channel_names(conn)
        known = [s.alert for s in (await load_alerts(conn)).values()]
        silences = await load_silences(conn, active_at=now)
        is_muted = muter(routing.inhibit_rules, known, silences, now)
        sent: list[Notification] = []
        for group in groups.values():
            notification, after = flush(
                group, now, send_resolved=send_resolved.get(group.receiver, True), is_muted=is_muted
            )
            if disposable(after, now):
                await delete_groups(conn, [after.group_id])
            else:
                await save_group(conn, after)
            if notification is not None:
                payload = {"channel": group.receiver, "notification": notification.to_dict()}
                await enqueue(
                    conn,
                    NOTIFY_KIND,
                    payload,
                    key=notification.idempotency_key,
                    max_attempts=NOTIFY_MAX_ATTEMPTS,
                )
                sent.append(notification)
        return sent

    async def push_alerts(self, body: object) -> int:
        """``POST /api/v2/alerts``: the valid alerts are dispatched; if any was invalid, a
        400 lists the problems afterwards, as Alertmanager answers."""
        now = time.time()
        async with self.resources.database.connect() as conn:
            routing = await load_routing(conn)
        alerts, problems = postable_alerts(body, now, routing.resolve_timeout)
        await self.dispatch(alerts, now=now)
        if problems:
            message = "; ".join(str(p.get("msg", "")) for p in problems[:5])
            raise BadRequest(f"invalid alerts: {message}", code="invalid_alerts", details=problems)
        return len(alerts)

    async def list_groups(self) -> list[dict[str, Any]]:
        """The stored aggregation groups (for operators and tests)."""
        async with self.resources.database.connect() as conn:
            return [g.to_dict() for g in await all_groups(conn)]


def _timings(item: GroupState | RouteMatch) -> tuple[float, float, float]:
    return (item.group_wait, item.group_interval, item.repeat_interval)


def matcher_filters(filters: Sequence[str]) -> list[Matcher]:
    matchers: list[Matcher] = []
    for i, text in enumerate(filters):
        matchers.extend(parse_matchers(text, ["filter", i]))
    return matchers
