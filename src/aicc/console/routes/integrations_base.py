"""What the integrations pages share: path and query types, the permissions, an
integration's state as the list shows it, links to messages, and JSON shown as text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Depends, Path, Query

from aicc.console.dependencies import Visit, require

T = TypeVar("T")
READ = "integrations:read"
SEND = "integrations:send"
MANAGE = "integrations:manage"
Reader = Annotated[Visit, Depends(require(READ))]
Sender = Annotated[Visit, Depends(require(SEND))]
Manager = Annotated[Visit, Depends(require(MANAGE))]
IntegrationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")]
MessageId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
Before = Annotated[str, Query(max_length=64, pattern=r"^[0-9A-Za-z:.+\- ]*$")]
"""A page's cursor: the service's ``next_before`` (a time, or an event's number)."""

STATES = {
    "healthy": ("badge-ok", "integrations.state_healthy"),
    "disabled": ("badge-warn", "integrations.state_disabled"),
    "breaker_half_open": ("badge-warn", "integrations.state_breaker_half_open"),
    "breaker_open": ("badge-down", "integrations.state_breaker_open"),
    "needs_reauth": ("badge-down", "integrations.state_needs_reauth"),
}
"""Badge class and label of each state the list shows."""
STATUSES = {
    "queued": ("badge-info", "integrations.status_queued"),
    "sending": ("badge-info", "integrations.status_sending"),
    "delivered": ("badge-ok", "integrations.status_delivered"),
    "failed": ("badge-warn", "integrations.status_failed"),
    "dead": ("badge-down", "integrations.status_dead"),
    "discarded": ("badge-warn", "integrations.status_discarded"),
}
"""Badge class and label of each message status."""


def state_of(integration: dict[str, Any]) -> str:
    """What the list says about an integration, from what the service already knows (its
    status and its breaker), without calling the provider."""
    status = integration.get("status")
    if status in ("needs_reauth", "disabled"):
        return str(status)
    breaker = integration.get("breaker")
    if breaker == "open":
        return "breaker_open"
    if breaker == "half_open":
        return "breaker_half_open"
    return "healthy"


def base_path(integration_id: str) -> str:
    return f"/integrations/{integration_id}"


def service_path(integration_id: str, *parts: str) -> str:
    """The integration service's path (each part percent-encoded)."""
    tail = "".join("/" + quote(part, safe="") for part in parts)
    return base_path(integration_id) + tail


def with_links(integration_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with ``href`` (their page here) and ``key`` (their id, encoded for a path)."""
    linked = []
    for message in messages:
        key = quote(str(message.get("message_id", "")), safe="")
        linked.append(
            {**message, "key": key, "href": f"{base_path(integration_id)}/messages/{key}"}
        )
    return linked


def pages(path: str, before: str, next_before: object, **params: str) -> dict[str, str | None]:
    """Links to the newest page (when not on it) and the next older one (when there is one)."""
    keep = {name: value for name, value in params.items() if value}
    newest = path + ("?" + urlencode(keep) if keep else "") if before else None
    older = f"{path}?{urlencode({**keep, 'before': str(next_before)})}" if next_before else None
    return {"newest": newest, "older": older}


def pretty(value: Any) -> str:
    """JSON as an operator reads it (shown escaped, in a ``pre``)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


async def integration_and(
    visit: Visit, integration_id: str, other: Awaitable[T]
) -> tuple[dict[str, Any], T]:
    """The integration and one more answer, asked for at once."""
    integration, answer = await asyncio.gather(
        visit.api.get("integration", base_path(integration_id)), other
    )
    return integration, answer


async def integration_and_message(
    visit: Visit, integration_id: str, message_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The integration and one of its messages (with its page links), asked for at once."""
    integration, found = await integration_and(
        visit,
        integration_id,
        visit.api.get("integration", service_path(integration_id, "messages", message_id)),
    )
    (linked,) = with_links(integration_id, [found])
    return integration, linked


def page_context(visit: Visit, integration: dict[str, Any], tab: str) -> dict[str, Any]:
    """What every page of one integration shows above its own part (heading and tabs)."""
    user = visit.user
    return {
        "integration": integration,
        "state": state_of(integration),
        "states": STATES,
        "statuses": STATUSES,
        "base": base_path(str(integration["integration_id"])),
        "tab": tab,
        "can_send": user is not None and user.can(SEND),
        "can_manage": user is not None and user.can(MANAGE),
    }
