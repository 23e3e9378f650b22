"""TOTP (RFC 6238) enrolment with single-use recovery codes."""

from __future__ import annotations

from sqlalchemy import delete, insert

from aicc.auth import audit, models, totp, users
from aicc.auth.audit import Actor
from aicc.auth.base import AuthBase
from aicc.core.errors import Conflict, Unauthorized
from aicc.core.tokens import Principal

ISSUER_NAME = "AICC"


class MfaMixin(AuthBase):
    async def start_totp_enrollment(self, principal: Principal, *, actor: Actor) -> dict[str, str]:
        """A new secret and its ``otpauth://`` URI; active only after ``confirm``."""
        secret = totp.new_secret()
        async with self.resources.database.transaction() as conn:
            user = await users.by_id(conn, principal.user_id)
            if user is None:
                raise Unauthorized("The user no longer exists", code="token_revoked")
            if user.totp_secret is not None:
                raise Conflict("MFA is already enabled", code="mfa_already_enabled")
            sealed = self.totp_box.seal(secret.encode(), context=user.id.encode())
            await users.update_fields(conn, user.id, totp_pending_secret=sealed)
            await audit.record(conn, "mfa_enrollment_started", actor=actor, target_id=user.id)
        uri = totp.provisioning_uri(secret, account=user.username, issuer=ISSUER_NAME)
        return {"secret": secret, "otpauth_uri": uri}

    async def confirm_totp_enrollment(
        self, principal: Principal, code: str, *, actor: Actor
    ) -> list[str]:
        """Activate the pending secret with a valid code; returns ten recovery codes, once."""
        async with self.resources.database.connect() as conn:
            user = await users.by_id(conn, principal.user_id)
        if user is None or user.totp_pending_secret is None:
            raise Conflict("Start enrolment first", code="mfa_not_pending")
        secret = self.totp_box.open(user.totp_pending_secret, context=user.id.encode())
        step = totp.matching_step(secret.decode(), code)
        if step is None:
            # Recorded in its own transaction: raising inside one would roll the record back.
            async with self.resources.database.transaction() as conn:
                await audit.record(
                    conn, "mfa_enrolled", outcome="failure", actor=actor, target_id=user.id
                )
            raise Unauthorized("Invalid MFA code", code="mfa_invalid")
        codes = totp.new_recovery_codes()
        async with self.resources.database.transaction() as conn:
            await users.update_fields(
                conn,
                user.id,
                totp_secret=user.totp_pending_secret,
                totp_pending_secret=None,
                totp_last_step=step,
            )
            rc = models.recovery_code
            await conn.execute(delete(rc).where(rc.c.user_id == user.id))
            await conn.execute(
                insert(rc),
                [{"user_id": user.id, "code_hash": totp.hash_recovery_code(c)} for c in codes],
            )
            await self.refresh_claims_of_user(conn, user.id)
            await audit.record(conn, "mfa_enrolled", actor=actor, target_id=user.id)
        self.forget_profile(user.id)
        return codes

    async def disable_totp(self, principal: Principal, password: str, *, actor: Actor) -> None:
        async with self.resources.database.connect() as conn:
            user = await users.by_id(conn, principal.user_id)
            roles = await users.roles_of(conn, principal.user_id)
        if user is None or user.totp_secret is None:
            raise Conflict("MFA is not enabled", code="mfa_not_enabled")
        checked = await self.hasher.verify(user.password_hash or "", password)
        if not checked.valid:
            await self.guard.record_failure(users.username_key(user.username), actor.ip_address)
            async with self.resources.database.transaction() as conn:
                await audit.record(
                    conn, "mfa_disabled", outcome="failure", actor=actor, target_id=user.id
                )
            raise Unauthorized("The password is wrong", code="invalid_credentials")
        if self.mfa_required_for(roles):
            raise Conflict("Your role requires MFA", code="mfa_required_by_role")
        async with self.resources.database.transaction() as conn:
            await users.update_fields(
                conn, user.id, totp_secret=None, totp_pending_secret=None, totp_last_step=0
            )
            rc = models.recovery_code
            await conn.execute(delete(rc).where(rc.c.user_id == user.id))
            await audit.record(conn, "mfa_disabled", actor=actor, target_id=user.id)
        self.forget_profile(user.id)
