"""recording: recordings, live spool, chat messages, audit trail

Revision ID: 0005_recording
Revises: 0004_core_data_key
Create Date: 2026-12-01 17:04:28.711764
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_recording"
down_revision: str | None = "0004_core_data_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_audit")),
    )
    op.create_index(
        "ix_recording_audit_recording", "recording_audit", ["recording_id", "id"], unique=False
    )
    op.create_table(
        "recording_item",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=True),
        sa.Column("codec", sa.String(length=32), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("channel_map", sa.JSON(), nullable=True),
        sa.Column("encoding", sa.String(length=16), nullable=True),
        sa.Column("bitrate", sa.Integer(), nullable=True),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("spool_seq", sa.Integer(), nullable=False),
        sa.Column("pause_offset", sa.BigInteger(), nullable=True),
        sa.Column("gaps", sa.JSON(), nullable=True),
        sa.Column("frames", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("object_key", sa.String(length=300), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("compression", sa.String(length=8), nullable=True),
        sa.Column("recovered", sa.Boolean(), nullable=False),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("owner_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_audio_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_by", sa.String(length=64), nullable=True),
        sa.Column("hold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=64), nullable=True),
        sa.Column("delete_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_item")),
    )
    op.create_index(
        "ix_recording_item_agent", "recording_item", ["agent_id", "started_at"], unique=False
    )
    op.create_index(
        "ix_recording_item_customer", "recording_item", ["customer_id", "started_at"], unique=False
    )
    op.create_index("ix_recording_item_expires", "recording_item", ["expires_at"], unique=False)
    op.create_index("ix_recording_item_session", "recording_item", ["session_id"], unique=False)
    op.create_index("ix_recording_item_started", "recording_item", ["started_at"], unique=False)
    op.create_index(
        "ix_recording_item_status", "recording_item", ["status", "last_audio_at"], unique=False
    )
    op.create_table(
        "recording_chat_message",
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recording_item.id"],
            name=op.f("fk_recording_chat_message_recording_id_recording_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "seq", name=op.f("pk_recording_chat_message")),
    )
    op.create_table(
        "recording_spool",
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("silence", sa.Boolean(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recording_item.id"],
            name=op.f("fk_recording_spool_recording_id_recording_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "seq", name=op.f("pk_recording_spool")),
    )


def downgrade() -> None:
    op.drop_table("recording_spool")
    op.drop_table("recording_chat_message")
    op.drop_index("ix_recording_item_status", table_name="recording_item")
    op.drop_index("ix_recording_item_started", table_name="recording_item")
    op.drop_index("ix_recording_item_session", table_name="recording_item")
    op.drop_index("ix_recording_item_expires", table_name="recording_item")
    op.drop_index("ix_recording_item_customer", table_name="recording_item")
    op.drop_index("ix_recording_item_agent", table_name="recording_item")
    op.drop_table("recording_item")
    op.drop_index("ix_recording_audit_recording", table_name="recording_audit")
    op.drop_table("recording_audit")
