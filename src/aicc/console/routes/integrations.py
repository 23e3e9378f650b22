"""Integrations (``integrations:read``): the list with each one's state, one integration's
settings, health check and message log, a message, inbound events. Dead letters and the
test send are in ``integrations_dead`` and ``integrations_send``, included here."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from aicc.console.dependencies import Visit
from aicc.console.navigation import NavItem, Page
from aicc.console.routes import integrations_dead, integrations_send
from aicc.console.routes.integrations_base import (
    READ,
    STATES,
    STATUSES,
    Before,
    IntegrationId,
    MessageId,
    Reader,
    base_path,
    integration_and,
    integration_and_message,
    page_context,
    pages,
    pretty,
    service_path,
    state_of,
    with_links,
)
from aicc.console.routing import page_router

router = page_router()
router.include_router(integrations_dead.router)
router.include_router(integrations_send.router)
MESSAGES_PER_PAGE = 20
EVENTS_PER_PAGE = 20
StatusFilter = Annotated[str, Query(pattern="^(" + "|".join(("", *STATUSES)) + ")$")]


@router.get("/integrations")
async def listing(visit: Reader) -> Response:
    found: dict[str, Any] = await visit.api.get("integration", "/integrations")
    items = [{**item, "state": state_of(item)} for item in found.get("integrations", [])]
    items.sort(key=lambda item: str(item.get("name", "")).lower())
    return visit.render(
        "integrations/list.html",
        items=items,
        states=STATES,
        notice=await visit.take_notice(),
        page_title="integrations.title",
    )


async def _detail(
    visit: Visit, integration_id: str, status: str, before: str, *, check: bool
) -> Response:
    params = {"limit": MESSAGES_PER_PAGE, "status": status or None, "before": before or None}
    calls: list[Any] = [
        visit.api.get("integration", base_path(integration_id)),
        visit.api.get("integration", service_path(integration_id, "messages"), params),
    ]
    if check:
        calls.append(visit.api.get("integration", service_path(integration_id, "health")))
    integration, log, *health = await asyncio.gather(*calls)
    return visit.render(
        "integrations/detail.html",
        **page_context(visit, integration, "detail"),
        messages=with_links(integration_id, log.get("messages", [])),
        pages=pages(base_path(integration_id), before, log.get("next_before"), status=status),
        status_filter=status,
        health=health[0] if health else None,
        health_details=pretty(health[0].get("details")) if health else "",
        notice=await visit.take_notice(),
        page_title="integrations.title",
    )


@router.get("/integrations/{integration_id}")
async def detail(
    visit: Reader, integration_id: IntegrationId, status: StatusFilter = "", before: Before = ""
) -> Response:
    return await _detail(visit, integration_id, status, before, check=False)


@router.get("/integrations/{integration_id}/health")
async def health(visit: Reader, integration_id: IntegrationId) -> Response:
    """The detail page with a health check just made (a call to the provider)."""
    return await _detail(visit, integration_id, "", "", check=True)


@router.get("/integrations/{integration_id}/messages/{message_id}")
async def message(visit: Reader, integration_id: IntegrationId, message_id: MessageId) -> Response:
    integration, linked = await integration_and_message(visit, integration_id, message_id)
    return visit.render(
        "integrations/message.html",
        **page_context(visit, integration, "detail"),
        message=linked,
        payload=pretty(linked.get("payload")),
        result=pretty(linked.get("result")) if linked.get("result") is not None else None,
        error=pretty(linked.get("error")) if linked.get("error") else None,
        notice=await visit.take_notice(),
        page_title="integrations.message_title",
    )


@router.get("/integrations/{integration_id}/events")
async def events(
    visit: Reader,
    integration_id: IntegrationId,
    before: Annotated[str, Query(max_length=20, pattern=r"^[0-9]*$")] = "",
) -> Response:
    params = {"limit": EVENTS_PER_PAGE, "before": before or None}
    integration, found = await integration_and(
        visit,
        integration_id,
        visit.api.get("integration", service_path(integration_id, "events"), params),
    )
    shown = [{**event, "text": pretty(event.get("data"))} for event in found.get("events", [])]
    return visit.render(
        "integrations/events.html",
        **page_context(visit, integration, "events"),
        events=shown,
        pages=pages(f"{base_path(integration_id)}/events", before, found.get("next_before")),
        page_title="integrations.events_title",
    )


PAGE = Page(router, NavItem("nav.integrations", "/integrations", READ, order=40))
