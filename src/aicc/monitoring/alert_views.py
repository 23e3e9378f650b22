"""Alerts and aggregation groups as Alertmanager's API v2 shows them (``GET /api/v2/alerts``,
``GET /api/v2/alerts/groups``): not resolved, with their receivers and what mutes them,
filtered with Alertmanager's parameters."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aicc.monitoring.alertmanager import (
    Alert,
    Inhibitor,
    Matcher,
    RoutingConfig,
    Silence,
    matches_all,
    silenced_by,
)
from aicc.monitoring.alertmanager.errors import invalid
from aicc.monitoring.base import MonitoringBase
from aicc.monitoring.dispatch import matcher_filters
from aicc.monitoring.notify_store import (
    StoredAlert,
    all_groups,
    load_alerts,
    load_routing,
    load_silences,
)


@dataclass(frozen=True)
class AlertFilter:
    """The query parameters Alertmanager's API filters alerts with."""

    matchers: Sequence[Matcher] = ()
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    receiver: re.Pattern[str] | None = None

    @classmethod
    def parse(
        cls,
        filters: Sequence[str] = (),
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        receiver: str | None = None,
    ) -> AlertFilter:
        pattern = None
        if receiver:
            try:
                pattern = re.compile(receiver)
            except re.error:
                raise invalid(
                    "invalid_regex", "not a valid regular expression", ["receiver"]
                ) from None
        return cls(matcher_filters(filters), active, silenced, inhibited, pattern)

    def receives(self, names: Sequence[str]) -> bool:
        return self.receiver is None or any(self.receiver.fullmatch(n) for n in names)


@dataclass(frozen=True)
class _View:
    routing: RoutingConfig
    stored: Mapping[str, StoredAlert]
    silences: Sequence[Silence]
    inhibitor: Inhibitor
    now: float

    def receivers(self, alert: Alert) -> list[str]:
        entry = self.stored.get(alert.fingerprint)
        extra = entry.receivers if entry else ()
        return list(dict.fromkeys(m.receiver for m in self.routing.match(alert.labels, extra)))

    def show(self, alert: Alert, names: list[str], where: AlertFilter) -> dict[str, Any] | None:
        if alert.resolved_at(self.now) or not matches_all(where.matchers, alert.labels):
            return None
        by_silence = silenced_by(alert.labels, self.silences, self.now)
        by_inhibition = self.inhibitor.inhibited_by(alert.labels)
        muted = bool(by_silence or by_inhibition)
        if (
            (not where.active and not muted)
            or (not where.silenced and by_silence)
            or (not where.inhibited and by_inhibition)
        ):
            return None
        return alert.to_api(receivers=names, silenced_by=by_silence, inhibited_by=by_inhibition)


class AlertViews(MonitoringBase):
    """The API v2 read side of the alert store and the groups."""

    async def _view(self) -> _View:
        now = time.time()
        async with self.resources.database.connect() as conn:
            routing = await load_routing(conn)
            stored = await load_alerts(conn)
            silences = await load_silences(conn, active_at=now)
        inhibitor = routing.inhibitor([s.alert for s in stored.values()], now)
        return _View(routing, stored, silences, inhibitor, now)

    async def list_alerts(self, where: AlertFilter | None = None) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``, ordered by fingerprint."""
        where = where or AlertFilter()
        view = await self._view()
        out: list[dict[str, Any]] = []
        for fp in sorted(view.stored):
            alert = view.stored[fp].alert
            names = view.receivers(alert)
            if not where.receives(names):
                continue
            shown = view.show(alert, names, where)
            if shown is not None:
                out.append(shown)
        return out

    async def list_alert_groups(self, where: AlertFilter | None = None) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts/groups``: each aggregation group with its alerts left after
        the filters (groups left empty are omitted), ordered by labels, then receiver."""
        where = where or AlertFilter()
        view = await self._view()
        async with self.resources.database.connect() as conn:
            groups = await all_groups(conn)
        out: list[tuple[tuple[tuple[str, str], ...], str, dict[str, Any]]] = []
        for group in groups:
            if not where.receives([group.receiver]):
                continue
            alerts = []
            for fp in sorted(group.alerts):
                alert = view.stored[fp].alert if fp in view.stored else group.alerts[fp]
                shown = view.show(alert, view.receivers(alert), where)
                if shown is not None:
                    alerts.append(shown)
            if alerts:
                labels = dict(group.group_labels)
                body = {"labels": labels, "receiver": {"name": group.receiver}, "alerts": alerts}
                out.append((tuple(sorted(labels.items())), group.receiver, body))
        out.sort(key=lambda item: (item[0], item[1]))
        return [body for _, _, body in out]
