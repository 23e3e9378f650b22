"""The auth service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

import secrets
import sys

from sqlalchemy.exc import IntegrityError

from aicc.auth import users
from aicc.auth.accounts import AccountsMixin
from aicc.auth.login import LoginMixin
from aicc.auth.mfa import MfaMixin
from aicc.auth.passwords import check_password_policy
from aicc.auth.selfservice import SelfServiceMixin
from aicc.auth.sso import SsoMixin
from aicc.core.errors import ConfigError, ValidationFailed
from aicc.core.permissions import Role


class AuthService(LoginMixin, AccountsMixin, SelfServiceMixin, MfaMixin, SsoMixin):
    """Users, JWT, role-based access control, MFA, SSO, sessions and audit."""

    bootstrap_on_start = True
    """Create the first SUPER_ADMIN when there are no users (off for CLI commands)."""

    async def on_auth_started(self) -> None:
        self.load_sso_providers()
        if self.bootstrap_on_start:
            await self._bootstrap_admin()

    async def _bootstrap_admin(self) -> None:
        """No default accounts: on the first start, one SUPER_ADMIN with the configured or a
        generated password, which is shown once on the console and never logged."""
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
        try:
            await self.register_user(
                username, f"{username}@localhost.invalid", password, [Role.SUPER_ADMIN.value]
            )
        except IntegrityError:
            return
        if given is None:
            print(  # noqa: T201 (shown once on the console, never in the logs)
                f"Created the first SUPER_ADMIN {username!r} with the password {password}\n"
                "It is shown only this once: sign in and change it.",
                file=sys.stdout,
                flush=True,
            )
        self.logger.info("bootstrap admin created", extra={"metadata": {"username": username}})
