"""auth: a password an administrator set must be changed at the next sign-in

Revision ID: 0009_auth_password_change
Revises: 0008_monitoring_alert
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_auth_password_change"
down_revision: str | None = "0008_monitoring_alert"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_user") as batch:
        batch.add_column(
            sa.Column(
                "password_change_required",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_user") as batch:
        batch.drop_column("password_change_required")
