"""Storage of the notification pipeline: channels (settings sealed), the routing
configuration, silences, the shared alert store and aggregation groups. Plain functions over
a connection, so a caller composes them in one transaction (the dispatcher holds the
``monitoring.dispatch`` lock around its reads and writes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.crypto import SecretBox
from aicc.monitoring.alert_models import alert as alert_table
from aicc.monitoring.alertmanager import Alert, GroupState, RoutingConfig, Silence
from aicc.monitoring.channels import ChannelConfig, parse_channel_config
from aicc.monitoring.models import channel as channel_table
from aicc.monitoring.models import group as group_table
from aicc.monitoring.models import setting as setting_table
from aicc.monitoring.models import silence as silence_table

CHANNEL_KEY_PURPOSE = "aicc-monitoring-channels"
ROUTING_KEY = "routing"


def stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def now_stamp() -> datetime:
    return datetime.now(UTC)


# -- channels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRow:
    config: ChannelConfig
    created_at: datetime
    updated_at: datetime


def seal_channel(box: SecretBox, config: ChannelConfig) -> bytes:
    return box.seal(orjson.dumps(config.to_dict()), context=config.name.encode())


def _open_channel(box: SecretBox, row: Any) -> ChannelRow:
    data = orjson.loads(box.open(row.settings_sealed, context=row.name.encode()))
    return ChannelRow(parse_channel_config(data), row.created_at, row.updated_at)


async def load_channel(conn: AsyncConnection, box: SecretBox, name: str) -> ChannelRow | None:
    row = (await conn.execute(sa.select(channel_table).where(channel_table.c.name == name))).first()
    return None if row is None else _open_channel(box, row)


async def list_channels(conn: AsyncConnection, box: SecretBox) -> list[ChannelRow]:
    rows = await conn.execute(sa.select(channel_table).order_by(channel_table.c.name))
    return [_open_channel(box, row) for row in rows]


async def channel_names(conn: AsyncConnection) -> dict[str, bool]:
    """Each channel's name and its ``send_resolved``, without opening any secret."""
    rows = await conn.execute(sa.select(channel_table.c.name, channel_table.c.send_resolved))
    return {row.name: bool(row.send_resolved) for row in rows}


async def insert_channel(conn: AsyncConnection, box: SecretBox, config: ChannelConfig) -> None:
    at = now_stamp()
    await conn.execute(
        channel_table.insert().values(
            name=config.name,
            type=config.type,
            settings_sealed=seal_channel(box, config),
            send_resolved=config.send_resolved,
            created_at=at,
            updated_at=at,
        )
    )


async def update_channel(conn: AsyncConnection, box: SecretBox, config: ChannelConfig) -> bool:
    result = await conn.execute(
        channel_table.update()
        .where(channel_table.c.name == config.name)
        .values(
            type=config.type,
            settings_sealed=seal_channel(box, config),
            send_resolved=config.send_resolved,
            updated_at=now_stamp(),
        )
    )
    return bool(result.rowcount)


async def delete_channel(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(channel_table.delete().where(channel_table.c.name == name))
    return bool(result.rowcount)


# -- settings: routing --------------------------------------------------------------------


async def load_routing(conn: AsyncConnection) -> RoutingConfig:
    value = (
        await conn.execute(
            sa.select(setting_table.c.value).where(setting_table.c.key == ROUTING_KEY)
        )
    ).scalar()
    return RoutingConfig.default() if value is None else RoutingConfig.from_json(value)


async def save_routing(conn: AsyncConnection, config: RoutingConfig) -> None:
    await _upsert(
        conn,
        setting_table,
        setting_table.c.key,
        ROUTING_KEY,
        {"value": config.to_json(), "updated_at": now_stamp()},
    )


# -- silences -----------------------------------------------------------------------------


def _seconds(value: datetime) -> float:
    """A stored time as Unix seconds (SQLite hands back naive datetimes; they are UTC)."""
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).timestamp()


def _silence(row: Any) -> Silence:
    return Silence.from_dict(
        {
            "id": row.id,
            "matchers": row.matchers,
            "starts_at": _seconds(row.starts_at),
            "ends_at": _seconds(row.ends_at),
            "created_by": row.created_by,
            "comment": row.comment,
            "updated_at": _seconds(row.updated_at),
        }
    )


async def load_silences(conn: AsyncConnection, *, active_at: float | None = None) -> list[Silence]:
    """All silences, or only those not yet ended at ``active_at``."""
    query = sa.select(silence_table)
    if active_at is not None:
        query = query.where(silence_table.c.ends_at > stamp(active_at))
    return [_silence(row) for row in await conn.execute(query)]


async def get_silence(conn: AsyncConnection, silence_id: str) -> Silence | None:
    row = (
        await conn.execute(sa.select(silence_table).where(silence_table.c.id == silence_id))
    ).first()
    return None if row is None else _silence(row)


async def save_silences(conn: AsyncConnection, silences: Iterable[Silence]) -> None:
    for s in silences:
        data = s.to_dict()
        await _upsert(
            conn,
            silence_table,
            silence_table.c.id,
            s.id,
            {
                "matchers": data["matchers"],
                "starts_at": stamp(s.starts_at),
                "ends_at": stamp(s.ends_at),
                "created_by": s.created_by,
                "comment": s.comment,
                "updated_at": stamp(s.updated_at),
            },
        )


# -- alerts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    receivers: tuple[str, ...]
    """Receivers added to the route tree's: the channels of the rule that raised it."""


async def load_alerts(
    conn: AsyncConnection, fingerprints: Iterable[str] | None = None
) -> dict[str, StoredAlert]:
    query = sa.select(alert_table.c.alert)
    if fingerprints is not None:
        query = query.where(alert_table.c.fingerprint.in_(sorted(set(fingerprints))))
    out: dict[str, StoredAlert] = {}
    for (data,) in await conn.execute(query):
        stored = StoredAlert(Alert.from_dict(data["alert"]), tuple(data.get("receivers", ())))
        out[stored.alert.fingerprint] = stored
    return out


async def save_alert(conn: AsyncConnection, stored: StoredAlert) -> None:
    a = stored.alert
    await _upsert(
        conn,
        alert_table,
        alert_table.c.fingerprint,
        a.fingerprint,
        {
            "alert": {"alert": a.to_dict(), "receivers": list(stored.receivers)},
            "ends_at": None if a.ends_at is None else stamp(a.ends_at),
            "updated_at": now_stamp(),
        },
    )


async def delete_alerts_ended_before(conn: AsyncConnection, before: float) -> int:
    result = await conn.execute(alert_table.delete().where(alert_table.c.ends_at < stamp(before)))
    return int(result.rowcount or 0)


# -- groups -------------------------------------------------------------------------------


async def load_groups(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, GroupState]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(sa.select(group_table.c.state).where(group_table.c.key.in_(wanted)))
    groups = (GroupState.from_dict(state) for (state,) in rows)
    return {g.group_id: g for g in groups}


async def due_groups(conn: AsyncConnection, now: float) -> dict[str, GroupState]:
    rows = await conn.execute(
        sa.select(group_table.c.state).where(group_table.c.next_flush_at <= stamp(now))
    )
    groups = (GroupState.from_dict(state) for (state,) in rows)
    return {g.group_id: g for g in groups}


async def idle_groups(conn: AsyncConnection) -> list[GroupState]:
    """Groups with no flush scheduled: empty ones, kept for their notification log."""
    rows = await conn.execute(
        sa.select(group_table.c.state).where(group_table.c.next_flush_at.is_(None))
    )
    return [GroupState.from_dict(state) for (state,) in rows]


async def all_groups(conn: AsyncConnection) -> list[GroupState]:
    rows = await conn.execute(sa.select(group_table.c.state))
    return [GroupState.from_dict(state) for (state,) in rows]


async def save_group(conn: AsyncConnection, state: GroupState) -> None:
    await _upsert(
        conn,
        group_table,
        group_table.c.key,
        state.group_id,
        {
            "state": state.to_dict(),
            "next_flush_at": None if state.next_flush_at is None else stamp(state.next_flush_at),
            "updated_at": now_stamp(),
        },
    )


async def delete_groups(conn: AsyncConnection, ids: Iterable[str]) -> None:
    wanted = sorted(set(ids))
    if wanted:
        await conn.execute(group_table.delete().where(group_table.c.key.in_(wanted)))


async def _upsert(
    conn: AsyncConnection,
    table: sa.Table,
    key_column: sa.Column[Any],
    key: str,
    values: Mapping[str, Any],
) -> None:
    """Update the row, or insert it; callers hold a lock or tolerate the last write winning."""
    result = await conn.execute(table.update().where(key_column == key).values(**values))
    if not result.rowcount:
        await conn.execute(table.insert().values({key_column.name: key, **values}))
