"""Recording tables: one row per recording or chat transcript, the encrypted spool a live
recording accumulates until it is finalized, chat messages, and the audit trail."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from aicc.core.db import metadata

item = Table(
    "recording_item",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(8), nullable=False),
    Column("source", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("session_id", String(200), nullable=False),
    Column("agent_id", String(200), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("format", String(8), nullable=True),
    Column("codec", String(32), nullable=True),
    Column("sample_rate", Integer, nullable=True),
    Column("channels", Integer, nullable=True),
    Column("channel_map", JSON, nullable=True),
    Column("encoding", String(16), nullable=True),
    Column("bitrate", Integer, nullable=True),
    Column("received_bytes", BigInteger, nullable=False),
    Column("spool_seq", Integer, nullable=False),
    Column("pause_offset", BigInteger, nullable=True),
    Column("gaps", JSON, nullable=True),
    Column("frames", BigInteger, nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("object_key", String(300), nullable=True),
    Column("message_count", Integer, nullable=False),
    Column("compression", String(8), nullable=True),
    Column("recovered", Boolean, nullable=False),
    Column("ended_by", String(16), nullable=True),
    Column("owner", String(100), nullable=True),
    Column("owner_seen_at", DateTime(timezone=True), nullable=True),
    Column("paused_at", DateTime(timezone=True), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_audio_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("retention_days", Integer, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("hold_reason", Text, nullable=True),
    Column("hold_by", String(64), nullable=True),
    Column("hold_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("deleted_by", String(64), nullable=True),
    Column("delete_reason", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_recording_item_agent", "agent_id", "started_at"),
    Index("ix_recording_item_customer", "customer_id", "started_at"),
    Index("ix_recording_item_session", "session_id"),
    Index("ix_recording_item_status", "status", "last_audio_at"),
    Index("ix_recording_item_started", "started_at"),
    Index("ix_recording_item_expires", "expires_at"),
)

spool = Table(
    "recording_spool",
    metadata,
    Column(
        "recording_id",
        String(32),
        ForeignKey("recording_item.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    Column("silence", Boolean, nullable=False),
    Column("data", LargeBinary, nullable=True),
)
"""Live audio as received (input encoding), encrypted under the recording's data key, in
``seq`` order; ``offset`` is where the row starts in the client's byte stream. A silence row
stands for ``length`` bytes received while paused (never stored) and carries no data."""

chat_message = Table(
    "recording_chat_message",
    metadata,
    Column(
        "recording_id",
        String(32),
        ForeignKey("recording_item.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
"""One chat message (sender, text, time, attachments) as encrypted JSON, in arrival order."""

audit = Table(
    "recording_audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("recording_id", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", String(32), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("ip_address", String(64), nullable=True),
    Column("details", JSON, nullable=True),
    Index("ix_recording_audit_recording", "recording_id", "id"),
)
"""Who did what to which recording: lifecycle (start, pause, resume, stop, hold, delete,
purge) and every read of its content (download, playback range, transcript)."""
