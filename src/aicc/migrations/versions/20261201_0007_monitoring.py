"""monitoring: rules, rule state, alert history, channels, silences, groups, settings

Revision ID: 0007_monitoring
Revises: 0006_integration
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_monitoring"
down_revision: str | None = "0006_integration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitoring_rule",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitoring_rule")),
    )
    op.create_table(
        "monitoring_rule_state",
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("rule_name", name=op.f("pk_monitoring_rule_state")),
    )
    op.create_table(
        "monitoring_alert_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alert_history")),
    )
    op.create_index("ix_monitoring_alert_history_at", "monitoring_alert_history", ["at"])
    op.create_index(
        "ix_monitoring_alert_history_rule", "monitoring_alert_history", ["rule_name", "at"]
    )
    op.create_table(
        "monitoring_channel",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("settings_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("send_resolved", sa.Boolean(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitoring_channel")),
    )
    op.create_table(
        "monitoring_silence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", STAMP, nullable=False),
        sa.Column("ends_at", STAMP, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_silence")),
    )
    op.create_index("ix_monitoring_silence_ends", "monitoring_silence", ["ends_at"])
    op.create_table(
        "monitoring_group",
        sa.Column("key", sa.String(length=700), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("next_flush_at", STAMP, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitoring_group")),
    )
    op.create_index("ix_monitoring_group_next_flush", "monitoring_group", ["next_flush_at"])
    op.create_table(
        "monitoring_setting",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitoring_setting")),
    )


def downgrade() -> None:
    op.drop_table("monitoring_setting")
    op.drop_index("ix_monitoring_group_next_flush", table_name="monitoring_group")
    op.drop_table("monitoring_group")
    op.drop_index("ix_monitoring_silence_ends", table_name="monitoring_silence")
    op.drop_table("monitoring_silence")
    op.drop_table("monitoring_channel")
    op.drop_index("ix_monitoring_alert_history_rule", table_name="monitoring_alert_history")
    op.drop_index("ix_monitoring_alert_history_at", table_name="monitoring_alert_history")
    op.drop_table("monitoring_alert_history")
    op.drop_table("monitoring_rule_state")
    op.drop_table("monitoring_rule")
