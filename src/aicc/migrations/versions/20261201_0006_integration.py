"""integration: integrations, message log, webhook events

Revision ID: 0006_integration
Revises: 0005_recording
Create Date: 2026-12-01 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_integration"
down_revision: str | None = "0005_recording"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("endpoint_url", sa.String(length=2000), nullable=False),
        sa.Column("auth_type", sa.String(length=32), nullable=False),
        sa.Column("auth_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("auth_keys", sa.JSON(), nullable=False),
        sa.Column("token_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration")),
    )
    op.create_table(
        "integration_message",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("integration_id", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("message_type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("payload_view", sa.JSON(), nullable=False),
        sa.Column("result_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_message")),
    )
    op.create_index(
        "ix_integration_message_list",
        "integration_message",
        ["integration_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_integration_message_status",
        "integration_message",
        ["integration_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "integration_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("integration_id", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("data_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_event")),
        sa.UniqueConstraint("integration_id", "event_id", name="uq_integration_event_id"),
    )
    op.create_index(
        "ix_integration_event_list", "integration_event", ["integration_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_integration_event_list", table_name="integration_event")
    op.drop_table("integration_event")
    op.drop_index("ix_integration_message_status", table_name="integration_message")
    op.drop_index("ix_integration_message_list", table_name="integration_message")
    op.drop_table("integration_message")
    op.drop_table("integration")
