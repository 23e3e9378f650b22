"""The auth service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import func, select

from aicc.auth import models, users
from aicc.auth.accounts import AccountsMixin
from aicc.auth.audit import Actor
from aicc.auth.login import LoginMixin
from aicc.auth.mfa import MfaMixin
from aicc.auth.passwords import check_password_policy
from aicc.auth.selfservice import SelfServiceMixin
from aicc.auth.sso import SsoMixin
from aicc.core.errors import ConfigError, ValidationFailed
from aicc.core.permissions import Role

SESSIONS_REFRESH_SECONDS = 5.0


class AuthService(LoginMixin, AccountsMixin, SelfServiceMixin, MfaMixin, SsoMixin):
    """Users, JWT, role-based access control, MFA, SSO, sessions and audit."""

    bootstrap_on_start = True
    """Create the first SUPER_ADMIN when there are no users (off for CLI commands)."""
    sessions_refresh_seconds = SESSIONS_REFRESH_SECONDS
    """How often ``/metrics`` recounts live sessions."""
    _sessions_gauge: Gauge | None = None
    _sessions_counted = float("-inf")

    async def refresh_metrics(self) -> None:
        """``aicc_active_sessions_total``: live sessions (not revoked, not expired) in the
        whole deployment, counted at most every few seconds."""
        clock = time.monotonic()
        if not self.started or clock - self._sessions_counted < self.sessions_refresh_seconds:
            return
        self._sessions_counted = clock
        if self._sessions_gauge is None:
            self._sessions_gauge = Gauge(
                "aicc_active_sessions_total",
                "Live sign-in sessions (not revoked, not expired); a gauge despite the name, "
                "which is the spec's",
                registry=self.metrics.registry,
            )
        t = models.session
        query = select(func.count()).where(
            t.c.revoked_at.is_(None), t.c.expires_at > datetime.now(UTC)
        )
        async with self.resources.database.connect() as conn:
            self._sessions_gauge.set(int((await conn.execute(query)).scalar_one()))

    async def on_auth_started(self) -> None:
        self.load_sso_providers()
        if self.bootstrap_on_start:
            await self._bootstrap_admin()

    async def _bootstrap_admin(self) -> None:
        """No default accounts: on the first start, one SUPER_ADMIN with the configured or a
        generated password, which is shown once on the console and never logged.

        Replicas starting together queue on one lock; the first creates the admin, the others
        find a user and carry on."""
        async with self.resources.database.connect() as conn:
            if await users.count_all(conn) > 0:
                return
        auth = self.settings.auth
        given = auth.bootstrap_admin_password
        password = given.get_secret_value() if given else secrets.token_urlsafe(18)
        username = auth.bootstrap_admin_username
        try:
            check_password_policy(password, username=username)
        except ValidationFailed as exc:
            raise ConfigError(f"AICC_BOOTSTRAP_ADMIN_PASSWORD is refused: {exc.message}") from None
        password_hash = await self.hasher.hash(password)
        async with self.resources.database.locked_transaction("auth:bootstrap-admin") as conn:
            if await users.count_all(conn) > 0:
                return
            await self.insert_user(
                conn,
                username=username,
                email=f"{username}@localhost.invalid",
                password_hash=password_hash,
                roles=[Role.SUPER_ADMIN],
                actor=Actor(None),
            )
        if given is None:
            self.announce(
                f"Created the first SUPER_ADMIN {username!r} with the password {password}\n"
                "It is shown only this once: sign in and change it."
            )
        self.logger.info("bootstrap admin created", extra={"metadata": {"username": username}})
