"""Monitoring tables: alert rules, each rule's evaluation state, the history of alert state
changes, notification channels (secrets sealed), silences, notification groups and the
routing configuration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from aicc.core.db import metadata

rule = Table(
    "monitoring_rule",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("builtin", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

rule_state = Table(
    "monitoring_rule_state",
    metadata,
    Column("rule_name", String(200), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

history = Table(
    "monitoring_alert_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("rule_name", String(200), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_alert_history_at", "at"),
    Index("ix_monitoring_alert_history_rule", "rule_name", "at"),
)

channel = Table(
    "monitoring_channel",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("settings_sealed", LargeBinary, nullable=False),
    Column("send_resolved", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

silence = Table(
    "monitoring_silence",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", JSON, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", String(2000), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_silence_ends", "ends_at"),
)

group = Table(
    "monitoring_group",
    metadata,
    Column("key", String(700), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("next_flush_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_group_next_flush", "next_flush_at"),
)

setting = Table(
    "monitoring_setting",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
