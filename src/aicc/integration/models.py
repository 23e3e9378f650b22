"""Integration tables: registered integrations (secrets sealed), the message log that is
also the delivery queue's state and the dead-letter list, and verified webhook events."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from aicc.core.db import metadata

integration = Table(
    "integration",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("endpoint_url", String(2000), nullable=False),
    Column("auth_type", String(32), nullable=False),
    Column("auth_sealed", LargeBinary, nullable=False),
    Column("auth_keys", JSON, nullable=False),
    Column("token_sealed", LargeBinary, nullable=True),
    Column("options", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(500), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

message = Table(
    "integration_message",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("integration_id", String(100), nullable=False),
    Column("method", String(64), nullable=False),
    Column("message_type", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("payload_sealed", LargeBinary, nullable=True),
    Column("payload_view", JSON, nullable=False),
    Column("result_sealed", LargeBinary, nullable=True),
    Column("error", JSON, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("created_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_integration_message_list", "integration_id", "created_at"),
    Index("ix_integration_message_status", "integration_id", "status", "created_at"),
)

event = Table(
    "integration_event",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("integration_id", String(100), nullable=False),
    Column("event_id", String(300), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("data_sealed", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("integration_id", "event_id", name="uq_integration_event_id"),
    Index("ix_integration_event_list", "integration_id", "id"),
)
