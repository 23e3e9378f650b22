"""Reading: a recording's metadata, search, and the access log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aicc.core.tokens import Principal
from aicc.recording import catalog
from aicc.recording.chat import ChatMixin

SEARCH_FIELDS = ("agent_id", "customer_id", "session_id", "type", "status")


class AccessMixin(ChatMixin):
    async def get_recording(
        self, recording_id: str, *, caller: Principal | None = None
    ) -> dict[str, Any]:
        async with self.resources.database.connect() as conn:
            return catalog.metadata_of(await catalog.visible(conn, recording_id, caller))

    async def search_recordings(
        self,
        *,
        caller: Principal | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
        **filters: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first by start time; filters ``agent_id``, ``customer_id``, ``session_id``,
        ``type`` (voice/chat), ``status``; ``cursor`` continues a previous page."""
        unknown = set(filters) - set(SEARCH_FIELDS)
        if unknown:
            raise TypeError(f"unknown filters: {', '.join(sorted(unknown))}")
        given = {k: v for k, v in filters.items() if v is not None}
        async with self.resources.database.connect() as conn:
            return await catalog.search(
                conn, caller, filters=given, since=since, until=until, cursor=cursor, limit=limit
            )

    async def access_log(
        self, recording_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Every event of the recording, newest first: lifecycle and every read of it."""
        async with self.resources.database.connect() as conn:
            await catalog.load(conn, recording_id)
            return await catalog.events(conn, recording_id, limit=limit, before=before)
