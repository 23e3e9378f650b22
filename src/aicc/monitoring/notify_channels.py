"""Notification channels through the Python API (settings sealed at rest under a key derived
from the master key, answers masked), and the ``monitoring.notification`` job that delivers
one group's notification through one channel."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from aicc.core.crypto import SecretBox, derive_key
from aicc.core.errors import Conflict, NotFound, ValidationFailed
from aicc.core.jobs import JobContext, JobHandler, PermanentFailure, Retry
from aicc.core.secrets import encryption_key
from aicc.monitoring import alertmanager as am
from aicc.monitoring import channels
from aicc.monitoring.base import MonitoringBase
from aicc.monitoring.dispatch import DISPATCH_LOCK, NOTIFY_KIND
from aicc.monitoring.notify_store import (
    CHANNEL_KEY_PURPOSE,
    ChannelRow,
    delete_channel,
    insert_channel,
    list_channels,
    load_channel,
    load_routing,
    update_channel,
)

TEST_ALERT = "AICCTestNotification"


def channel_notification(notification: am.Notification) -> channels.Notification:
    """The dispatcher's notification in the form the channel senders take."""

    def when(seconds: float | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    return channels.Notification(
        receiver=notification.receiver,
        status="resolved" if notification.status == "resolved" else "firing",
        group_key=notification.group_key,
        group_labels=dict(notification.group_labels),
        common_labels=dict(notification.common_labels),
        common_annotations=dict(notification.common_annotations),
        alerts=[
            channels.AlertItem(
                status="resolved" if a.status == "resolved" else "firing",
                labels=dict(a.labels),
                annotations=dict(a.annotations),
                starts_at=datetime.fromtimestamp(a.starts_at, UTC),
                ends_at=when(a.ends_at),
                generator_url=a.generator_url,
                fingerprint=a.fingerprint,
            )
            for a in notification.alerts
        ],
        truncated_alerts=notification.truncated_alerts,
    )


def channel_view(row: ChannelRow) -> dict[str, Any]:
    """A channel as answers show it: secrets masked."""
    return {
        **channels.masked(row.config),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


class NotificationChannels(MonitoringBase):
    """Channel CRUD, test sends and the delivery job."""

    _channel_box: SecretBox | None = None

    @property
    def channel_box(self) -> SecretBox:
        if self._channel_box is None:
            key = derive_key(encryption_key(self.settings), CHANNEL_KEY_PURPOSE)
            self._channel_box = SecretBox(key)
        return self._channel_box

    def job_handlers(self) -> Iterable[JobHandler]:
        return [
            *super().job_handlers(),
            JobHandler(NOTIFY_KIND, self._deliver, timeout=30, idempotent=True),
        ]

    async def create_channel(self, body: object) -> ChannelRow:
        """Add a channel (409 ``channel_exists`` if the name is taken); its URLs must pass
        the request-forgery guard (422 ``url_not_allowed``)."""
        config = channels.parse_channel_config(body)
        await channels.check_channel_urls(config, self.settings)
        try:
            async with self.resources.database.transaction() as conn:
                if await load_channel(conn, self.channel_box, config.name) is not None:
                    raise _exists(config.name)
                await insert_channel(conn, self.channel_box, config)
        except IntegrityError:
            raise _exists(config.name) from None
        return await self.get_channel(config.name)

    async def list_channels(self) -> list[ChannelRow]:
        async with self.resources.database.connect() as conn:
            return await list_channels(conn, self.channel_box)

    async def get_channel(self, name: str) -> ChannelRow:
        async with self.resources.database.connect() as conn:
            row = await load_channel(conn, self.channel_box, name)
        if row is None:
            raise NotFound(f"channel {name!r} not found", code="channel_not_found")
        return row

    async def update_channel(self, name: str, body: object) -> ChannelRow:
        """Replace a channel's type and settings; secrets sent back masked keep their
        stored values. The name cannot change."""
        if not isinstance(body, Mapping):
            raise ValidationFailed("the body must be an object", code="invalid_channel")
        if body.get("name", name) != name:
            raise ValidationFailed(
                "a channel cannot be renamed",
                code="name_mismatch",
                details=[{"loc": ["name"], "msg": "must equal the channel's name"}],
            )
        current = await self.get_channel(name)
        restored = channels.restore_masked({**body, "name": name}, current.config)
        config = channels.parse_channel_config(restored)
        await channels.check_channel_urls(config, self.settings)
        async with self.resources.database.transaction() as conn:
            if not await update_channel(conn, self.channel_box, config):
                raise NotFound(f"channel {name!r} not found", code="channel_not_found")
        return await self.get_channel(name)

    async def delete_channel(self, name: str) -> None:
        """Delete a channel; a 409 ``channel_in_use`` while a route names it."""
        async with self.resources.database.locked_transaction(DISPATCH_LOCK) as conn:
            routing = await load_routing(conn)
            if name in routing.receivers():
                raise Conflict(
                    f"channel {name!r} is a receiver of the routing configuration",
                    code="channel_in_use",
                )
            if not await delete_channel(conn, name):
                raise NotFound(f"channel {name!r} not found", code="channel_not_found")

    async def test_channel(self, name: str) -> dict[str, Any]:
        """Send a test notification (one firing alert ``AICCTestNotification``) through the
        channel now, and report what happened instead of raising."""
        row = await self.get_channel(name)
        now = datetime.now(UTC)
        labels = {"alertname": TEST_ALERT, "severity": "info"}
        notification = channels.Notification(
            receiver=name,
            status="firing",
            group_key=f'{{}}:{{alertname="{TEST_ALERT}"}}',
            group_labels={"alertname": TEST_ALERT},
            common_labels=labels,
            common_annotations={"summary": f"Test notification of channel {name}"},
            alerts=[
                channels.AlertItem(
                    status="firing",
                    labels=labels,
                    annotations={"summary": f"Test notification of channel {name}"},
                    starts_at=now,
                    fingerprint=am.fingerprint(labels),
                )
            ],
        )
        started = time.perf_counter()
        try:
            result = await channels.send(row.config, notification, self._channel_context())
        except channels.ChannelError as exc:
            return {
                "channel": name,
                "type": row.config.type,
                "sent": False,
                "error": exc.message,
                "retryable": exc.retryable,
                "status": exc.status,
                "duration_seconds": round(time.perf_counter() - started, 3),
            }
        return {**result.to_dict(), "duration_seconds": round(time.perf_counter() - started, 3)}

    def _channel_context(self) -> channels.ChannelContext:
        return channels.ChannelContext.using(self.user_http, self.resources.aws)

    async def _deliver(self, ctx: JobContext) -> Retry | None:
        name = str(ctx.payload["channel"])
        notification = am.Notification.from_dict(ctx.payload["notification"])
        async with self.resources.database.connect() as conn:
            row = await load_channel(conn, self.channel_box, name)
        if row is None:
            raise PermanentFailure(f"channel {name!r} does not exist")
        try:
            await channels.send(
                row.config, channel_notification(notification), self._channel_context()
            )
        except channels.ChannelError as exc:
            if exc.retryable:
                return Retry(exc.message, after=exc.retry_after)
            raise PermanentFailure(exc.message) from None
        return None


def _exists(name: str) -> Conflict:
    return Conflict(f"channel {name!r} already exists", code="channel_exists")
