"""Overview: the services' health and readiness, firing alerts, live figures; kept current by
server-sent events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import Response, StreamingResponse

from aicc.console.dependencies import Visit, require
from aicc.console.errors import PageError, SignInRequired
from aicc.console.live.charts import charts
from aicc.console.navigation import NavItem, Page
from aicc.console.routing import page_router
from aicc.core.config import SERVICE_NAMES

router = page_router()
PERMISSION = "metrics:read"
Reader = Annotated[Visit, Depends(require(PERMISSION))]
FRAGMENTS = ("health", "figures", "alerts")
logger = logging.getLogger("aicc.console")


async def alerts_of(visit: Visit) -> dict[str, Any] | None:
    """Pending and firing alerts for a user who may read them (None for one who may not)."""
    user = visit.user
    if user is None or not user.can("alerts:read"):
        return None
    try:
        found: dict[str, Any] = await visit.api.get("monitoring", "/alerts")
    except SignInRequired:
        raise
    except PageError:
        return {"firing": [], "pending": 0, "unavailable": True}
    alerts = found.get("alerts", [])
    firing = [a for a in alerts if a.get("state") == "firing"]
    firing.sort(key=lambda a: (_severity_rank(a), str(a.get("rule_name"))))
    pending = sum(1 for a in alerts if a.get("state") == "pending")
    return {"firing": firing, "pending": pending, "unavailable": False}


def _severity_rank(alert: dict[str, Any]) -> int:
    severity = str(alert.get("labels", {}).get("severity", "")).lower()
    return {"critical": 0, "warning": 1, "info": 2}.get(severity, 3)


def fragments(visit: Visit, snapshot: dict[str, Any] | None, alerts: Any) -> dict[str, str]:
    """The live parts of the page, rendered alone (the page includes the same templates)."""
    renderer = visit.console.renderer
    context = _context(snapshot, alerts)
    return {
        name: renderer.render(f"overview/_{name}.html", t=visit.t, **context)
        for name in FRAGMENTS
        if name != "alerts" or alerts is not None
    }


def _context(snapshot: dict[str, Any] | None, alerts: Any) -> dict[str, Any]:
    return {
        "snapshot": snapshot,
        "services": SERVICE_NAMES,
        "charts": charts(snapshot),
        "connect": (snapshot or {}).get("connect"),
        "alerts": alerts,
        "updated_at": time.strftime(
            "%H:%M:%S", time.localtime(snapshot["at"] if snapshot else time.time())
        ),
    }


@router.get("/")
async def overview(visit: Reader) -> Response:
    snapshot = await visit.console.live.snapshot()
    alerts = await alerts_of(visit)
    return visit.render(
        "overview/page.html",
        notice=await visit.take_notice(),
        page_title="overview.title",
        interval=visit.console.settings.console.live_interval,
        **_context(snapshot, alerts),
    )


def sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


async def _events(visit: Visit) -> AsyncIterator[bytes]:
    console = visit.console
    settings = console.settings.console
    deadline = time.monotonic() + settings.stream_lifetime
    count = 0
    yield b"retry: 3000\n\n"
    while True:
        try:
            parts = await _tick(visit)
        except SignInRequired:
            yield sse("signout", "/login?next=/")
            return
        except Exception:  # the cache or a service failed: the browser reconnects shortly
            logger.warning("event stream ended early", exc_info=True)
            return
        count += 1
        for name, html in parts.items():
            yield sse(name, html)
        yield sse("tick", str(count))
        if time.monotonic() + settings.live_interval >= deadline:
            return  # the browser reconnects, perhaps to another replica
        await asyncio.sleep(settings.live_interval)


async def _tick(visit: Visit) -> dict[str, str]:
    """One update: the session checked (and its token refreshed), then the parts."""
    console = visit.console
    session_id = visit.session_id
    session = await console.store.load(session_id) if session_id else None
    if session is None or session_id is None or session.user is None:
        raise SignInRequired()
    visit.session = await console.keeper.current(session_id, session, visit.caller)
    try:
        alerts = await alerts_of(visit)
    except SignInRequired:
        raise
    except PageError:
        alerts = None
    return fragments(visit, await console.live.snapshot(), alerts)


@router.get("/overview/events")
async def events(visit: Reader) -> StreamingResponse:
    return StreamingResponse(
        _events(visit),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


PAGE = Page(router, NavItem("nav.overview", "/", PERMISSION, order=10))
