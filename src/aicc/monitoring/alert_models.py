"""The shared alert store of the notification pipeline: every alert Alertmanager-style
dispatch has seen (from the rule evaluator or pushed to ``POST /api/v2/alerts``), by
fingerprint, until it has been resolved for a while."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, String, Table

from aicc.core.db import metadata

alert = Table(
    "monitoring_alert",
    metadata,
    Column("fingerprint", String(32), primary_key=True),
    Column("alert", JSON, nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_alert_ends", "ends_at"),
)
