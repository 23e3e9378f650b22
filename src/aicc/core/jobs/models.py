"""The ``core_job`` table: every wing's background work, one row per job."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from aicc.core.db import metadata

job_table = Table(
    "core_job",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("kind", String(120), nullable=False),
    Column("key", String(200), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_at", DateTime(timezone=True), nullable=False),
    Column("locked_by", String(64), nullable=True),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("kind", "key", name="uq_core_job_kind_key"),
    Index("ix_core_job_due", "state", "kind", "run_at"),
    Index("ix_core_job_lease", "state", "locked_until"),
    Index("ix_core_job_finished", "state", "finished_at"),
)
