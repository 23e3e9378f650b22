"""Silences: the list (active, pending, expired), one made from an alert in one click or by
the form, and expiring one. Alertmanager's API v2 body through ``/alerts/silences``."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Path, Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit
from aicc.console.errors import UpstreamError
from aicc.console.routes.alerts_common import (
    FormErrors,
    Manager,
    Reader,
    can_manage,
    go,
    lines,
    matcher_text,
    parse_duration,
    parse_matcher,
    text,
    texts,
)
from aicc.console.routing import page_router

router = page_router()
SilenceId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
STATES = ("active", "pending", "expired")
EXPIRED_SHOWN = 50
DEFAULT_DURATION = "2h"
FIELDS = ("matchers", "duration", "comment")
_API_FIELDS = {"matchers": "matchers", "endsAt": "duration", "startsAt": "duration"}


@router.get("/alerts/silences")
async def silences(visit: Reader, created: Annotated[str, Query(max_length=100)] = "") -> Response:
    found, stored = await asyncio.gather(
        visit.api.get("monitoring", "/alerts/silences"),
        visit.api.get("monitoring", "/api/v2/alerts"),
    )
    muting = Counter(sid for a in stored for sid in a["status"].get("silencedBy") or [])
    groups: dict[str, list[dict[str, Any]]] = {state: [] for state in STATES}
    for silence in found:
        silence["matcher_texts"] = [matcher_text(m) for m in silence["matchers"]]
        silence["muting"] = muting.get(silence["id"], 0)
        groups.setdefault(silence["status"]["state"], []).append(silence)
    expired_total = len(groups["expired"])
    groups["expired"] = groups["expired"][:EXPIRED_SHOWN]
    return visit.render(
        "alerts/silences.html",
        groups=groups,
        expired_total=expired_total,
        created=created,
        manage=can_manage(visit),
        notice=await visit.take_notice(),
        page_title="silences.title",
    )


def _form(
    visit: Visit,
    values: dict[str, Any],
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    return visit.render(
        "alerts/silence_form.html",
        status=status,
        values=values,
        errors=errors or FormErrors(),
        page_title="silences.new",
    )


@router.get("/alerts/silences/new")
async def new_silence(
    visit: Manager,
    matcher: Annotated[list[str] | None, Query(max_length=50)] = None,
    comment: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    values = {
        "matchers": "\n".join(m[:1000] for m in matcher or []),
        "duration": DEFAULT_DURATION,
        "comment": comment,
    }
    return _form(visit, values)


@router.post("/alerts/silences")
async def create_silence(visit: Manager) -> Response:
    """From the form, or in one click from an alert (its labels as ``matcher`` fields, the
    default duration and comment). The creator is always the signed-in user."""
    form = await visit.request.form()
    typed = [*texts(form, "matcher", 1000), *lines(text(form, "matchers", 20_000))]
    values = {
        "matchers": "\n".join(typed),
        "duration": text(form, "duration", 50) or DEFAULT_DURATION,
        "comment": text(form, "comment"),
    }
    errors = FormErrors()
    matchers = []
    for line in typed:
        parsed = parse_matcher(line)
        if parsed is None:
            errors.add("matchers", visit.t("silences.bad_matcher", line=line))
        else:
            matchers.append(parsed)
    if not typed:
        errors.add("matchers", visit.t("silences.need_matcher"))
    seconds = parse_duration(values["duration"])
    if seconds is None or seconds <= 0:
        errors.add("duration", visit.t("alerts.bad_duration"))
    if errors:
        return _form(visit, values, errors, 422)
    assert seconds is not None and visit.user is not None
    now = datetime.now(UTC)
    body = {
        "matchers": matchers,
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=seconds)).isoformat(),
        "createdBy": visit.user.username,
        "comment": values["comment"],
    }
    try:
        made = await visit.api.post("monitoring", "/alerts/silences", body)
    except UpstreamError as exc:
        found = FormErrors.from_upstream(exc, FIELDS, _API_FIELDS)
        return _form(visit, values, found, exc.status)
    await visit.leave_notice("silences.created")
    return go("/alerts/silences?" + urlencode({"created": made["silenceID"]}))


@router.post("/alerts/silences/{silence_id}/expire")
async def expire_silence(visit: Manager, silence_id: SilenceId) -> Response:
    await visit.api.delete("monitoring", f"/alerts/silences/{silence_id}")
    await visit.leave_notice("silences.expired_one")
    return go("/alerts/silences")
