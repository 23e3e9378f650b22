"""The audit log (``audit:read``): the auth service's security events, newest first,
filtered by actor, action, outcome, target and dates, paged by cursor. Actors and targets
are shown by username, looked up in one call per page."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit, require
from aicc.console.navigation import NavItem, Page
from aicc.console.routing import page_router

router = page_router()
PERMISSION = "audit:read"
Auditor = Annotated[Visit, Depends(require(PERMISSION))]
PAGE_SIZE = 50
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EVENTS = {
    "login": "audit.event_login",
    "logout": "audit.event_logout",
    "account_locked": "audit.event_account_locked",
    "account_unlocked": "audit.event_account_unlocked",
    "mfa_verify": "audit.event_mfa_verify",
    "mfa_enrollment_started": "audit.event_mfa_enrollment_started",
    "mfa_enrolled": "audit.event_mfa_enrolled",
    "mfa_disabled": "audit.event_mfa_disabled",
    "password_changed": "audit.event_password_changed",
    "password_reset": "audit.event_password_reset",
    "profile_updated": "audit.event_profile_updated",
    "refresh_token_reused": "audit.event_refresh_token_reused",
    "roles_changed": "audit.event_roles_changed",
    "session_revoked": "audit.event_session_revoked",
    "sessions_revoked": "audit.event_sessions_revoked",
    "user_created": "audit.event_user_created",
    "user_updated": "audit.event_user_updated",
    "user_deleted": "audit.event_user_deleted",
    "user_disabled": "audit.event_user_disabled",
    "user_enabled": "audit.event_user_enabled",
}
OUTCOMES = ("success", "failure")
Who = Annotated[str, Query(max_length=150)]
Day = Annotated[str, Query(max_length=10)]


async def _user_id(visit: Visit, name: str) -> str | None:
    """The id of the user called ``name`` (a username, or already an id)."""
    if _UUID.match(name):
        return name.lower()
    found: dict[str, Any] = await visit.api.get("auth", "/auth/users", {"q": name, "limit": 200})
    wanted = name.casefold()
    for user in found.get("items", []):
        if str(user.get("username", "")).casefold() == wanted:
            return str(user["id"])
    return None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise _BadDates() from None


class _BadDates(ValueError):
    pass


def _local_midnight(day: date) -> str:
    """The start of ``day`` in the console's time zone (the one the times are shown in)."""
    return datetime.combine(day, time()).astimezone().isoformat()


async def _names(visit: Visit, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """The users an event page names, by id, in one call (None: this user may not look
    users up, so ids are shown)."""
    ids = sorted({str(v) for e in items for v in (e.get("actor_id"), e.get("target_id")) if v})
    user = visit.user
    if user is None or not user.can("users:manage"):
        return None
    if not ids:
        return {}
    found: dict[str, Any] = await visit.api.get(
        "auth", "/auth/users", {"id": ids, "limit": len(ids)}
    )
    return {str(u["id"]): u for u in found.get("items", [])}


@router.get("/audit")
async def audit(
    visit: Auditor,
    actor: Who = "",
    action: Annotated[str, Query(max_length=40)] = "",
    outcome: Annotated[str, Query(max_length=10)] = "",
    target: Who = "",
    since: Day = "",
    until: Day = "",
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    actor, target = actor.strip(), target.strip()
    action = action if action in EVENTS else ""
    outcome = outcome if outcome in OUTCOMES else ""
    filters = {
        k: v
        for k, v in (
            ("actor", actor),
            ("action", action),
            ("outcome", outcome),
            ("target", target),
            ("since", since),
            ("until", until),
        )
        if v
    }
    problem: str | None = None
    page: dict[str, Any] = {"items": [], "total": 0}
    try:
        first_day, last_day = _day(since), _day(until)
        if first_day and last_day and first_day > last_day:
            raise _BadDates()
    except _BadDates:
        first_day = last_day = None
        problem = visit.t("audit.bad_dates")
    actor_id, target_id = await asyncio.gather(
        _user_id(visit, actor) if actor else _none(),
        _user_id(visit, target) if target else _none(),
    )
    unknown = next((n for n, i in ((actor, actor_id), (target, target_id)) if n and not i), None)
    if unknown is not None:
        problem = visit.t("audit.unknown_user", name=unknown)
    if problem is None:
        page = await visit.api.get(
            "auth",
            "/auth/audit",
            {
                "event": action or None,
                "outcome": outcome or None,
                "actor_id": actor_id,
                "target_id": target_id,
                "since": _local_midnight(first_day) if first_day else None,
                "until": _local_midnight(last_day + timedelta(days=1)) if last_day else None,
                "before": before,
                "limit": PAGE_SIZE,
            },
        )
    items: list[dict[str, Any]] = page.get("items", [])
    names = await _names(visit, items)
    total = int(page.get("total", 0))
    older = (
        "/audit?" + urlencode({**filters, "before": items[-1]["id"]})
        if len(items) < total
        else None
    )
    return visit.render(
        "audit/list.html",
        filters=filters,
        actor=actor,
        action=action,
        outcome=outcome,
        target=target,
        since=since,
        until=until,
        events=[(code, visit.t(key)) for code, key in EVENTS.items()],
        event_labels={code: visit.t(key) for code, key in EVENTS.items()},
        outcomes=OUTCOMES,
        items=items,
        total=total,
        paged=before is not None,
        newest_url=("/audit?" + urlencode(filters)) if filters else "/audit",
        older_url=older,
        names=names or {},
        resolved=names is not None,
        problem=problem,
        page_title="audit.title",
    )


async def _none() -> None:
    return None


PAGE = Page(router, NavItem("nav.audit", "/audit", PERMISSION, order=510))
