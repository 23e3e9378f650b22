"""monitoring: the shared alert store of the notification pipeline

Revision ID: 0008_monitoring_alert
Revises: 0007_monitoring
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_monitoring_alert"
down_revision: str | None = "0007_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitoring_alert",
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("ends_at", STAMP, nullable=True),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_monitoring_alert")),
    )
    op.create_index("ix_monitoring_alert_ends", "monitoring_alert", ["ends_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_monitoring_alert_ends", table_name="monitoring_alert")
    op.drop_table("monitoring_alert")
