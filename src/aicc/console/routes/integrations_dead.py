"""Dead letters of one integration: the list (``integrations:read``), replay, and discard
after a confirmation page (``integrations:manage``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import Visit
from aicc.console.errors import UpstreamError
from aicc.console.rendering import NO_STORE
from aicc.console.routes.integrations_base import (
    Before,
    IntegrationId,
    Manager,
    MessageId,
    Reader,
    base_path,
    integration_and,
    integration_and_message,
    page_context,
    pages,
    pretty,
    service_path,
    with_links,
)
from aicc.console.routing import page_router

router = page_router()
PER_PAGE = 50
GONE = {"not_a_dead_letter": "integrations.not_dead", "message_not_found": "integrations.gone"}
"""A dead letter someone else replayed or discarded meanwhile: said on the next page."""


def _go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


@router.get("/integrations/{integration_id}/dead-letters")
async def dead_letters(
    visit: Reader, integration_id: IntegrationId, before: Before = ""
) -> Response:
    params = {"limit": PER_PAGE, "before": before or None}
    integration, found = await integration_and(
        visit,
        integration_id,
        visit.api.get("integration", service_path(integration_id, "dead-letters"), params),
    )
    return visit.render(
        "integrations/dead_letters.html",
        **page_context(visit, integration, "dead"),
        messages=with_links(integration_id, found.get("messages", [])),
        pages=pages(f"{base_path(integration_id)}/dead-letters", before, found.get("next_before")),
        notice=await visit.take_notice(),
        page_title="integrations.dead_title",
    )


async def _changed(visit: Visit, key: str, location: str) -> RedirectResponse:
    await visit.leave_notice(key)
    return _go(location)


@router.post("/integrations/{integration_id}/dead-letters/{message_id}/replay")
async def replay(visit: Manager, integration_id: IntegrationId, message_id: MessageId) -> Response:
    back = f"{base_path(integration_id)}/dead-letters"
    path = service_path(integration_id, "dead-letters", message_id, "replay")
    try:
        await visit.api.post("integration", path)
    except UpstreamError as exc:
        if exc.code in GONE:
            return await _changed(visit, GONE[exc.code], back)
        raise
    return await _changed(visit, "integrations.replayed", back)


@router.get("/integrations/{integration_id}/dead-letters/{message_id}/discard")
async def discard_form(
    visit: Manager, integration_id: IntegrationId, message_id: MessageId
) -> Response:
    integration, linked = await integration_and_message(visit, integration_id, message_id)
    return visit.render(
        "integrations/discard.html",
        **page_context(visit, integration, "dead"),
        message=linked,
        payload=pretty(linked.get("payload")),
        page_title="integrations.discard_title",
    )


@router.post("/integrations/{integration_id}/dead-letters/{message_id}/discard")
async def discard(
    visit: Manager,
    integration_id: IntegrationId,
    message_id: MessageId,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Only from the confirmation page (its button sends ``confirm=yes``)."""
    back = f"{base_path(integration_id)}/dead-letters"
    if confirm != "yes":
        (linked,) = with_links(integration_id, [{"message_id": message_id}])
        return _go(f"{back}/{linked['key']}/discard")
    path = service_path(integration_id, "dead-letters", message_id)
    try:
        await visit.api.delete("integration", path)
    except UpstreamError as exc:
        if exc.code in GONE:
            return await _changed(visit, GONE[exc.code], back)
        raise
    return await _changed(visit, "integrations.discarded", back)
