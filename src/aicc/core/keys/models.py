"""The ``core_data_key`` table: one wrapped data key per encrypted object."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from aicc.core.db import metadata

data_key_table = Table(
    "core_data_key",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("object_ref", String(1024), nullable=False),
    Column("kek_id", String(300), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("destroyed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("object_ref", name="uq_core_data_key_object_ref"),
    Index("ix_core_data_key_kek_id", "kek_id"),
)
"""``wrapped_key`` is the data key encrypted by the key-encryption key ``kek_id``; it is
NULL once destroyed (crypto-shredding), the row staying as the record that it was."""
