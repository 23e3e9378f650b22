"""core: per-object data keys wrapped by a key-encryption key (envelope encryption)

Revision ID: 0004_core_data_key
Revises: 0003_core_job
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_core_data_key"
down_revision: str | None = "0003_core_job"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_data_key",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("object_ref", sa.String(1024), nullable=False),
        sa.Column("kek_id", sa.String(300), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_core_data_key"),
        sa.UniqueConstraint("object_ref", name="uq_core_data_key_object_ref"),
    )
    op.create_index("ix_core_data_key_kek_id", "core_data_key", ["kek_id"])


def downgrade() -> None:
    op.drop_table("core_data_key")
