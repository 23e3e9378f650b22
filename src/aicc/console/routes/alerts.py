"""Alerts (``alerts:read`` to look, ``alerts:manage`` to change): pending and firing alerts
kept current by server-sent events, their history, and (in the ``alerts_*`` modules)
silences, rules and channels, over the monitoring service's API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import Query
from fastapi.responses import Response, StreamingResponse

from aicc.console.dependencies import Visit
from aicc.console.errors import PageError, SignInRequired
from aicc.console.navigation import NavItem, Page
from aicc.console.routes import alerts_channels, alerts_rules, alerts_silences
from aicc.console.routes.alerts_common import READ, SEVERITIES, Reader, can_manage, label_matchers
from aicc.console.routes.overview import sse
from aicc.console.routing import page_router

router = page_router()
for _part in (alerts_silences.router, alerts_rules.router, alerts_channels.router):
    router.include_router(_part)
logger = logging.getLogger("aicc.console")
QUICK_SILENCE = "2h"
HISTORY_PAGE = 50
StateFilter = Literal["", "firing", "pending", "silenced"]
SeverityFilter = Literal["", "critical", "warning", "info"]


@dataclass(frozen=True)
class Filters:
    state: str = ""
    severity: str = ""
    q: str = ""

    def query(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})

    def keeps(self, row: Mapping[str, Any]) -> bool:
        if self.state == "silenced" and not row["suppressed"]:
            return False
        if self.state in ("firing", "pending") and (
            row["state"] != self.state or row["suppressed"]
        ):
            return False
        if self.severity and row["severity"] != self.severity:
            return False
        return not self.q or self.q.lower() in row["search"]


async def current_alerts(visit: Visit) -> list[dict[str, Any]]:
    """The rules' pending and firing alerts (``/alerts``) joined by fingerprint with the
    notification side's (``/api/v2/alerts``: silenced or inhibited), plus alerts pushed by
    other systems, which only the latter knows."""
    ruled, stored = await asyncio.gather(
        visit.api.get("monitoring", "/alerts"), visit.api.get("monitoring", "/api/v2/alerts")
    )
    notified = {a["fingerprint"]: a for a in stored}
    rows = []
    for alert in ruled.get("alerts", []):
        seen = notified.pop(alert["fingerprint"], None)
        since = alert.get("fired_at") if alert["state"] == "firing" else alert.get("active_at")
        rows.append(_row(alert, alert["state"], since or alert.get("active_at"), seen, "rule"))
    for alert in notified.values():
        rows.append(_row(alert, "firing", alert.get("startsAt"), alert, "pushed"))
    rows.sort(key=_order)
    return rows


def _row(
    alert: Mapping[str, Any],
    state: str,
    since: Any,
    notified: Mapping[str, Any] | None,
    source: str,
) -> dict[str, Any]:
    labels: dict[str, str] = dict(alert.get("labels") or {})
    annotations: dict[str, str] = dict(alert.get("annotations") or {})
    status = (notified or {}).get("status") or {}
    name = labels.get("alertname") or str(alert.get("rule_name") or "")
    severity = str(labels.get("severity", "")).lower()
    shown = {k: v for k, v in sorted(labels.items()) if k not in ("alertname", "severity")}
    searched = [name, annotations.get("summary", "")]
    searched += [f'{k}="{v}" {k}={v}' for k, v in labels.items()]
    matchers = label_matchers(labels)
    return {
        "name": name,
        "fingerprint": str(alert.get("fingerprint", "")),
        "state": state,
        "source": source,
        "severity": severity,
        "labels": shown,
        "matchers": matchers,
        "silence_link": "/alerts/silences/new?" + urlencode([("matcher", m) for m in matchers]),
        "summary": annotations.get("summary", ""),
        "description": annotations.get("description", ""),
        "value": alert.get("value"),
        "since": since,
        "ends": alert.get("endsAt"),
        "silenced_by": list(status.get("silencedBy") or []),
        "inhibited": bool(status.get("inhibitedBy")),
        "suppressed": status.get("state") == "suppressed",
        "search": " ".join(searched).lower(),
    }


def _order(row: Mapping[str, Any]) -> tuple[int, int, int, str]:
    rank = SEVERITIES.index(row["severity"]) if row["severity"] in SEVERITIES else 3
    return (row["state"] != "firing", row["suppressed"], rank, row["name"])


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "firing": sum(1 for r in rows if r["state"] == "firing" and not r["suppressed"]),
        "pending": sum(1 for r in rows if r["state"] == "pending"),
        "silenced": sum(1 for r in rows if r["suppressed"]),
    }


def _fragment(visit: Visit, rows: list[dict[str, Any]], filters: Filters) -> dict[str, Any]:
    shown = [r for r in rows if filters.keeps(r)]
    return {
        "rows": shown,
        "counts": _counts(rows),
        "total": len(rows),
        "manage": can_manage(visit),
        "quick": QUICK_SILENCE,
        "updated_at": time.strftime("%H:%M:%S"),
    }


def _filters(state: StateFilter, severity: SeverityFilter, q: str) -> Filters:
    return Filters(state=state, severity=severity, q=q.strip())


Q = Annotated[str, Query(max_length=200)]


@router.get("/alerts")
async def alerts(
    visit: Reader, state: StateFilter = "", severity: SeverityFilter = "", q: Q = ""
) -> Response:
    filters = _filters(state, severity, q)
    rows = await current_alerts(visit)
    return visit.render(
        "alerts/list.html",
        filters=filters,
        events=f"/alerts/events?{filters.query()}",
        interval=visit.console.settings.console.live_interval,
        notice=await visit.take_notice(),
        page_title="alerts.title",
        **_fragment(visit, rows, filters),
    )


async def _live(visit: Visit, filters: Filters) -> AsyncIterator[bytes]:
    console = visit.console
    settings = console.settings.console
    deadline = time.monotonic() + settings.stream_lifetime
    here = f"/alerts?{filters.query()}" if filters.query() else "/alerts"
    back = "/login?next=" + quote(here, safe="")
    yield b"retry: 3000\n\n"
    while True:
        try:
            if not await _still_allowed(visit):
                return  # the role changed: the browser reconnects and gets the 403 page
            html = console.renderer.render(
                "alerts/_alerts.html",
                t=visit.t,
                csrf=visit.session.csrf if visit.session else None,
                **_fragment(visit, await current_alerts(visit), filters),
            )
        except SignInRequired:
            yield sse("signout", back)
            return
        except PageError:  # monitoring did not answer: the page keeps what it shows
            html = None
        except Exception:
            logger.warning("alerts stream ended early", exc_info=True)
            return
        if html is not None:
            yield sse("alerts", html)
        if time.monotonic() + settings.live_interval >= deadline:
            return
        await asyncio.sleep(settings.live_interval)


async def _still_allowed(visit: Visit) -> bool:
    """The session still signed in (its token refreshed when due) and allowed to read."""
    console = visit.console
    session_id = visit.session_id
    session = await console.store.load(session_id) if session_id else None
    if session is None or session_id is None or session.user is None:
        raise SignInRequired()
    visit.session = await console.keeper.current(session_id, session, visit.caller)
    user = visit.user
    return user is not None and user.can(READ)


@router.get("/alerts/events")
async def events(
    visit: Reader, state: StateFilter = "", severity: SeverityFilter = "", q: Q = ""
) -> StreamingResponse:
    return StreamingResponse(
        _live(visit, _filters(state, severity, q)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


HistoryState = Literal["resolved", "firing", "pending", "any"]


@router.get("/alerts/history")
async def history(
    visit: Reader,
    state: HistoryState = "resolved",
    level: SeverityFilter = "",
    rule: Annotated[str, Query(max_length=200)] = "",
    before: datetime | None = None,
    skip: Annotated[int, Query(ge=0, le=500)] = 0,
    limit: Annotated[int, Query(ge=5, le=200)] = HISTORY_PAGE,
) -> Response:
    """State changes, newest first, a page at a time. The cursor is the last change shown
    (``before``) and how many changes at that same instant were shown already (``skip``),
    so changes made together in one evaluation are never skipped between pages."""
    params: dict[str, Any] = {
        "state": None if state == "any" else state,
        "level": level or None,
        "rule_name": rule.strip() or None,
        "limit": limit + skip + 1,
    }
    if before is not None:
        params["until"] = (before + timedelta(microseconds=1)).isoformat()
    found = (await visit.api.get("monitoring", "/alerts/history", params))["history"]
    if before is not None:
        same = [i for i, h in enumerate(found[:skip]) if _instant(h["at"]) == before]
        found = found[len(same) :]
    page, more = found[:limit], len(found) > limit
    older = None
    if more and page:
        last = _instant(page[-1]["at"])
        at_last = sum(1 for h in page if _instant(h["at"]) == last)
        carried = skip if before == last else 0
        query: dict[str, Any] = {"state": state, "level": level, "rule": rule.strip()}
        query |= {"limit": limit if limit != HISTORY_PAGE else ""}
        query |= {"before": last.isoformat(), "skip": str(at_last + carried)}
        older = "/alerts/history?" + urlencode({k: v for k, v in query.items() if v})
    for item in page:
        item["shown_labels"] = {
            k: v for k, v in sorted(item["labels"].items()) if k not in ("alertname", "severity")
        }
    return visit.render(
        "alerts/history.html",
        items=page,
        older=older,
        newest=before is not None,
        filters={"state": state, "level": level, "rule": rule},
        page_title="alerts.history",
    )


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


PAGE = Page(router, NavItem("nav.alerts", "/alerts", READ, order=20))
