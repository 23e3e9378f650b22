"""Recordings (``recordings:read``): search by agent, customer, session, type and dates with
cursor pages; a recording's details with the player, download formats, the chat as a
conversation, legal hold (``recordings:delete``) and the access log (``audit:read``).

The audio goes through ``recordings_media``. An AGENT sees only their own recordings: the
recording service answers their searches with nothing else and others' ids with 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Form, Path, Query
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import Visit, require
from aicc.console.errors import PageNotFound, UpstreamError
from aicc.console.navigation import NavItem, Page
from aicc.console.rendering import NO_STORE, format_when
from aicc.console.routes.recordings_media import FORMATS
from aicc.console.routing import page_router
from aicc.core.permissions import ROLE_RANK, Role, highest_rank

router = page_router()
PERMISSION = "recordings:read"
Reader = Annotated[Visit, Depends(require(PERMISSION))]
Holder = Annotated[Visit, Depends(require("recordings:delete"))]
RecordingId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
Text = Annotated[str, Query(max_length=200)]
Day = Annotated[str, Query(max_length=10)]
PAGE_SIZES = (10, 25, 50, 100)
PAGE_SIZE = 50
LOG_PAGE = 25
EVENTS = (
    "started",
    "paused",
    "resumed",
    "stopped",
    "completed",
    "failed",
    "imported",
    "played",
    "downloaded",
    "transcript_read",
    "hold_set",
    "hold_released",
    "deleted",
    "purged",
)
SENDERS = ("agent", "customer", "bot", "system")


@dataclass(frozen=True)
class Filters:
    agent: str = ""
    customer: str = ""
    session: str = ""
    type: str = ""
    since: str = ""
    until: str = ""
    size: int = PAGE_SIZE

    def link(self, **extra: str) -> str:
        """This search's address (``extra``: the cursor)."""
        values = {
            "agent": self.agent,
            "customer": self.customer,
            "session": self.session,
            "type": self.type,
            "from": self.since,
            "to": self.until,
            "size": str(self.size) if self.size != PAGE_SIZE else "",
            **extra,
        }
        query = urlencode({k: v for k, v in values.items() if v})
        return "/recordings" + (f"?{query}" if query else "")

    @property
    def narrowed(self) -> bool:
        return any((self.agent, self.customer, self.session, self.type, self.since, self.until))


def label(kind: str, value: str) -> str:
    """The message key of a type, status, sender or event name."""
    return f"recordings.{kind}_{value}"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def size(value: int | None) -> str:
    if value is None:
        return "–"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value} B"


def hms(value: str | None) -> str:
    """The local time of day of an instant."""
    return format_when(value).rpartition(" ")[2]


def status_badge(status: str) -> str:
    return {"completed": "badge-ok", "failed": "badge-down", "deleted": "badge-down"}.get(
        status, "badge-info"
    )


def helpers(visit: Visit) -> dict[str, Any]:
    """What the recordings templates call."""
    user = visit.user

    def actor(user_id: str | None) -> str:
        if user_id is None:
            return visit.t("recordings.access_system")
        if user is not None and user_id == user.user_id:
            return f"{user.username} ({visit.t('recordings.access_you')})"
        return user_id

    return {
        "label": label,
        "clock": clock,
        "size": size,
        "hms": hms,
        "status_badge": status_badge,
        "actor": actor,
    }


def own_only(visit: Visit) -> bool:
    """An AGENT (and no higher role) sees only their own recordings."""
    user = visit.user
    return user is not None and highest_rank(user.roles) == ROLE_RANK[Role.AGENT]


def day_bounds(since: str, until: str) -> tuple[datetime | None, datetime | None]:
    """The dates (inclusive, in the console's time zone, as every time it shows) as the
    start and end instants of the search; ValueError for a date that is not one."""
    start = datetime.combine(date.fromisoformat(since), time.min).astimezone() if since else None
    end = None
    if until:
        end = datetime.combine(date.fromisoformat(until) + timedelta(days=1), time.min)
        end = end.astimezone()
    return start, end


@router.get("/recordings")
async def recordings(
    visit: Reader,
    agent: Text = "",
    customer: Text = "",
    session: Text = "",
    type: Annotated[Literal["", "voice", "chat"], Query()] = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=400)] = "",
    size: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> Response:
    mine = own_only(visit)
    filters = Filters(
        agent="" if mine else agent.strip(),
        customer=customer.strip(),
        session=session.strip(),
        type=type,
        since=since.strip(),
        until=until.strip(),
        size=size if size in PAGE_SIZES else PAGE_SIZE,
    )
    error: str | None = None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        start, end = day_bounds(filters.since, filters.until)
    except ValueError:
        error = visit.t("recordings.bad_date")
    else:
        if start is not None and end is not None and end <= start:
            error = visit.t("recordings.bad_range")
    if error is None:
        params = {
            "agent_id": filters.agent,
            "customer_id": filters.customer,
            "session_id": filters.session,
            "type": filters.type,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "cursor": cursor or None,
            "limit": filters.size,
        }
        try:
            page = await visit.api.get("recording", "/recordings", params)
        except UpstreamError as exc:
            error = exc.message or visit.t("error.upstream")
    next_cursor = page.get("next_cursor")
    return visit.render(
        "recordings/list.html",
        filters=filters,
        own_only=mine,
        items=page.get("items", []),
        error=error,
        paged=bool(cursor),
        next_link=filters.link(cursor=next_cursor) if next_cursor else None,
        page_sizes=PAGE_SIZES,
        page_title="recordings.title",
        **helpers(visit),
    )


@router.get("/recordings/{recording_id}")
async def recording(
    visit: Reader,
    recording_id: RecordingId,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    return await detail_page(visit, recording_id, log_before=before)


async def detail_page(
    visit: Visit,
    recording_id: str,
    *,
    log_before: int | None = None,
    hold_error: str | None = None,
    reason: str = "",
    status: int = 200,
) -> Response:
    path = f"/recordings/{recording_id}"
    try:
        item: dict[str, Any] = await visit.api.get("recording", path)
    except UpstreamError as exc:
        if exc.status == 404:
            raise PageNotFound(exc.message) from None
        raise
    user = visit.user
    assert user is not None
    can_download = user.can("recordings:download")
    ready = item.get("status") == "completed" and "deleted" not in item
    transcript = None
    if item.get("type") == "chat" and ready and can_download:
        # Read before the access log, so the log shows this reading too.
        transcript = await visit.api.get("recording", f"{path}/download")
    access = None
    if user.can("audit:read"):
        access = await visit.api.get(
            "recording", f"{path}/access-log", {"limit": LOG_PAGE, "before": log_before}
        )
    return visit.render(
        "recordings/detail.html",
        status=status,
        item=item,
        can_download=can_download,
        can_hold=user.can("recordings:delete"),
        ready=ready,
        formats=FORMATS,
        transcript=transcript,
        senders=SENDERS,
        access=access,
        log_before=log_before,
        events=EVENTS,
        hold_error=hold_error,
        reason=reason,
        notice=await visit.take_notice(),
        page_title="recordings.detail_title",
        **helpers(visit),
    )


@router.post("/recordings/{recording_id}/hold")
async def place_hold(
    visit: Holder,
    recording_id: RecordingId,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    reason = reason.strip()
    if not reason:
        error = visit.t("recordings.hold_reason_required")
        return await detail_page(visit, recording_id, hold_error=error, status=422)
    return await _change_hold(visit, recording_id, "PUT", {"reason": reason}, reason)


@router.post("/recordings/{recording_id}/hold/release")
async def release_hold(visit: Holder, recording_id: RecordingId) -> Response:
    return await _change_hold(visit, recording_id, "DELETE", None, "")


async def _change_hold(
    visit: Visit, recording_id: str, method: str, body: dict[str, str] | None, reason: str
) -> Response:
    path = f"/recordings/{recording_id}/hold"
    try:
        if method == "PUT":
            await visit.api.put("recording", path, body)
        else:
            await visit.api.delete("recording", path)
    except UpstreamError as exc:
        if exc.status == 404:
            raise PageNotFound(exc.message) from None
        error = exc.message or visit.t("error.upstream")
        return await detail_page(
            visit, recording_id, hold_error=error, reason=reason, status=exc.status
        )
    key = "recordings.hold_was_set" if method == "PUT" else "recordings.hold_was_released"
    await visit.leave_notice(key)
    return RedirectResponse(f"/recordings/{recording_id}#hold", status_code=303, headers=NO_STORE)


PAGE = Page(router, NavItem("nav.recordings", "/recordings", PERMISSION, order=30))
