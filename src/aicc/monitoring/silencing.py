"""Silences (Alertmanager API v2 shapes and rules) and the routing configuration (route tree
and inhibit rules, as JSON or alertmanager.yml), both kept in the database for every
replica."""

from __future__ import annotations

import time
from collections.abc import Sequence

from aicc.core.errors import NotFound, ValidationFailed
from aicc.monitoring.alertmanager import (
    RoutingConfig,
    Silence,
    expire_silence,
    matches_filter,
    parse_silence,
    save_silence,
    sort_silences,
)
from aicc.monitoring.base import MonitoringBase
from aicc.monitoring.dispatch import DISPATCH_LOCK, matcher_filters
from aicc.monitoring.notify_store import (
    channel_names,
    get_silence,
    load_routing,
    load_silences,
    save_routing,
    save_silences,
)


class SilencesAndRouting(MonitoringBase):
    """Silences and the routing configuration, through the Python API."""

    async def create_silence(self, body: object, *, created_by: str | None = None) -> Silence:
        """Create a silence, or update the one ``body["id"]`` names (in place when only
        its times or texts changed, else expired and replaced under a new id, as
        Alertmanager does). ``created_by`` fills a missing ``createdBy``."""
        if isinstance(body, dict) and created_by and not body.get("createdBy"):
            body = {**body, "createdBy": created_by}
        now = time.time()
        spec = parse_silence(body, now)
        for field, value, limit in (
            ("createdBy", spec.created_by, 200),
            ("comment", spec.comment, 2000),
        ):
            if len(value) > limit:
                raise ValidationFailed(
                    f"{field}: at most {limit} characters",
                    code="invalid_silence",
                    details=[{"loc": [field], "msg": f"at most {limit} characters"}],
                )
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            previous = await get_silence(conn, spec.id) if spec.id else None
            saved = save_silence(spec, now, previous=previous)
            await save_silences(conn, saved)
        return saved[0]

    async def list_silences(self, filters: Sequence[str] = ()) -> list[Silence]:
        """Every silence, expired ones included, in the API's order; ``filters`` are
        matcher strings each silence must carry verbatim."""
        matchers = matcher_filters(filters)
        async with self.resources.database.connect() as conn:
            silences = await load_silences(conn)
        now = time.time()
        return [s for s in sort_silences(silences, now) if matches_filter(s, matchers)]

    async def get_silence(self, silence_id: str) -> Silence:
        async with self.resources.database.connect() as conn:
            silence = await get_silence(conn, silence_id)
        if silence is None:
            raise NotFound(f"silence {silence_id} not found", code="silence_not_found")
        return silence

    async def expire_silence(self, silence_id: str) -> Silence:
        """End a silence now; it stays listed as expired. Expiring an expired one changes
        nothing."""
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            silence = await get_silence(conn, silence_id)
            if silence is None:
                raise NotFound(f"silence {silence_id} not found", code="silence_not_found")
            expired = expire_silence(silence, time.time())
            if expired != silence:
                await save_silences(conn, [expired])
        return expired

    async def routing(self) -> RoutingConfig:
        """The routing configuration (Alertmanager's defaults until one is saved)."""
        async with self.resources.database.connect() as conn:
            return await load_routing(conn)

    async def set_routing(self, config: RoutingConfig) -> RoutingConfig:
        """Replace the routing configuration; every receiver must be an existing channel
        (422 ``unknown_receiver``). Existing groups keep their state and flush on."""
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            config.check_receivers(set(await channel_names(conn)))
            await save_routing(conn, config)
        return config
