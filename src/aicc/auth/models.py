"""Tables of the auth service (SQLAlchemy Core), all prefixed ``auth_``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from aicc.core.db import metadata

Id = String(36)
Timestamp = DateTime(timezone=True)

user = Table(
    "auth_user",
    metadata,
    Column("id", Id, primary_key=True),
    Column("username", String(150), nullable=False),
    Column("username_key", String(150), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False, default=""),
    Column("last_name", String(100), nullable=False, default=""),
    Column("password_hash", String(255)),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("totp_secret", LargeBinary),
    Column("totp_pending_secret", LargeBinary),
    Column("totp_last_step", BigInteger, nullable=False, default=0),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("password_changed_at", Timestamp),
    Column("last_login_at", Timestamp),
    Column("last_login_ip", String(64)),
    Column("password_change_required", Boolean, nullable=False, default=False),
)

user_role = Table(
    "auth_user_role",
    metadata,
    Column("user_id", Id, ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(32), primary_key=True),
)
Index("ix_auth_user_role_role", user_role.c.role)

recovery_code = Table(
    "auth_recovery_code",
    metadata,
    Column("user_id", Id, ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used_at", Timestamp),
)

session = Table(
    "auth_session",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("auth_user.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("ip_address", String(64)),
    Column("user_agent", String(512)),
    Column("amr", String(64), nullable=False, default="pwd"),
    Column("revoked_at", Timestamp),
    Column("revoked_reason", String(64)),
)
Index("ix_auth_session_user_id", session.c.user_id)

refresh_token = Table(
    "auth_refresh_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", Id, ForeignKey("auth_session.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
)
Index("ix_auth_refresh_token_session_id", refresh_token.c.session_id)

signing_key = Table(
    "auth_signing_key",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("retired_at", Timestamp),
)

identity = Table(
    "auth_identity",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", Id, ForeignKey("auth_user.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

audit_event = Table(
    "auth_audit_event",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Timestamp, nullable=False),
    Column("event", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor_id", Id),
    Column("target_id", Id),
    Column("ip_address", String(64)),
    Column("user_agent", String(512)),
    Column("details", JSON, nullable=False),
)
Index("ix_auth_audit_event_at", audit_event.c.at)
Index("ix_auth_audit_event_event", audit_event.c.event)
Index("ix_auth_audit_event_target_id", audit_event.c.target_id)
Index("ix_auth_audit_event_actor_id", audit_event.c.actor_id)

__all__ = [
    "audit_event",
    "identity",
    "recovery_code",
    "refresh_token",
    "session",
    "signing_key",
    "user",
    "user_role",
]
