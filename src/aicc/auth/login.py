"""Password login, refresh-token rotation and logout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import audit, models, sessions, totp, users
from aicc.auth.audit import Actor
from aicc.auth.base import AuthBase
from aicc.core.errors import TooManyRequests, Unauthorized
from aicc.core.tokens import Principal

INVALID_CREDENTIALS = "Invalid username or password"


class LoginMixin(AuthBase):
    async def authenticate_user(
        self,
        username: str,
        password: str,
        ip_address: str | None = None,
        mfa_token: str | None = None,
        *,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        """Check the password (and MFA code), start a session, return the token pair.

        Unknown user, wrong password, disabled user and locked account all raise the same
        ``invalid_credentials`` error after the same amount of hashing work.
        """
        actor = Actor(ip_address=ip_address, user_agent=user_agent)
        retry_after = await self.guard.ip_retry_after(ip_address)
        if retry_after is not None:
            raise TooManyRequests(
                "Too many failed logins from this address; try again later",
                code="too_many_attempts",
                headers={"Retry-After": str(retry_after)},
            )
        key = users.username_key(username)
        locked = await self.guard.is_locked(key)
        database = self.resources.database
        async with database.connect() as conn:
            user, roles = await users.by_username_with_roles(conn, username)
        if user is None or locked or not user.password_hash:
            await self.hasher.verify_dummy(password)
            await self._fail(key, actor, user.id if user else None, "locked" if locked else "bad")
        checked = await self.hasher.verify(user.password_hash, password)
        if not checked.valid or not user.is_active:
            await self._fail(key, actor, user.id, "disabled" if checked.valid else "bad")
        amr = "pwd"
        if user.totp_secret is not None:
            await self._check_second_factor(user, mfa_token, key, actor)
            amr = "pwd,otp"
        async with database.transaction() as conn:
            rehash = {"password_hash": checked.new_hash} if checked.new_hash else {}
            await users.update_fields(
                conn, user.id, last_login_at=datetime.now(UTC), last_login_ip=ip_address, **rehash
            )
            tokens = await self.start_session(
                conn,
                user_id=user.id,
                username=user.username,
                roles=roles,
                amr=amr,
                mfa_enrolled=user.totp_secret is not None,
                ip_address=ip_address,
                user_agent=user_agent,
                password_change=bool(user.password_change_required),
            )
            await audit.record(
                conn,
                "login",
                actor=Actor(user.id, ip_address, user_agent),
                target_id=user.id,
                details={"amr": amr, "rehashed": checked.new_hash is not None},
            )
        await self.guard.record_success(key)
        return tokens

    async def _fail(self, key: str, actor: Actor, user_id: str | None, reason: str) -> NoReturn:
        locked_now = await self.guard.record_failure(key, actor.ip_address)
        async with self.resources.database.transaction() as conn:
            await audit.record(
                conn,
                "login",
                outcome="failure",
                actor=actor,
                target_id=user_id,
                details={"reason": reason},
            )
            if locked_now:
                await audit.record(conn, "account_locked", actor=actor, target_id=user_id)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")

    async def _check_second_factor(
        self, user: Any, mfa_token: str | None, key: str, actor: Actor
    ) -> None:
        """Consume the code in its own transaction: the failure is then recorded in another
        one, never nested (on SQLite a nested write would wait for the outer one's lock)."""
        if not mfa_token:
            raise Unauthorized("This account needs an MFA code", code="mfa_required")
        async with self.resources.database.transaction() as conn:
            used = await self.use_second_factor(conn, user, mfa_token)
        if used:
            return
        locked_now = await self.guard.record_failure(key, actor.ip_address)
        async with self.resources.database.transaction() as audit_conn:
            await audit.record(
                audit_conn, "mfa_verify", outcome="failure", actor=actor, target_id=user.id
            )
            if locked_now:
                await audit.record(audit_conn, "account_locked", actor=actor, target_id=user.id)
        raise Unauthorized("Invalid MFA code", code="mfa_invalid")

    async def use_second_factor(self, conn: AsyncConnection, user: Any, code: str) -> bool:
        """Accept a TOTP code (each time step once) or an unused recovery code."""
        secret = self.totp_box.open(user.totp_secret, context=user.id.encode()).decode()
        step = totp.matching_step(secret, code)
        if step is not None:
            result = await conn.execute(
                update(models.user)
                .where(models.user.c.id == user.id, models.user.c.totp_last_step < step)
                .values(totp_last_step=step)
            )
            return result.rowcount == 1
        rc = models.recovery_code
        result = await conn.execute(
            update(rc)
            .where(
                rc.c.user_id == user.id,
                rc.c.code_hash == totp.hash_recovery_code(code),
                rc.c.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
        return result.rowcount == 1

    async def refresh_token(
        self, refresh_token: str, *, ip_address: str | None = None, user_agent: str | None = None
    ) -> dict[str, Any]:
        """Exchange a refresh token for a new pair; a reused token revokes its session."""
        actor = Actor(ip_address=ip_address, user_agent=user_agent)
        idle = self.settings.auth.session_idle_timeout
        async with self.resources.database.transaction() as conn:
            found = await sessions.lookup_refresh_token(conn, refresh_token)
            if found is None:
                raise Unauthorized("Unknown refresh token", code="invalid_refresh_token")
            session = found.session
            if found.token_used or not await sessions.consume_refresh_token(conn, refresh_token):
                await self.end_sessions(conn, [session.id], "refresh_token_reused")
                await audit.record(
                    conn,
                    "refresh_token_reused",
                    outcome="failure",
                    actor=actor,
                    target_id=session.user_id,
                    details={"session_id": session.id},
                )
                reused = True
            else:
                reused = False
                problem = sessions.expiry_problem(session, idle_timeout=idle)
                user = await users.by_id(conn, session.user_id)
                if problem is None and (user is None or not user.is_active):
                    problem = "session_revoked"
                if problem is None:
                    assert user is not None
                    roles = await users.roles_of(conn, user.id)
                    await sessions.touch(conn, session.id)
                    return self.token_pair(
                        user_id=user.id,
                        username=user.username,
                        session_id=session.id,
                        roles=roles,
                        amr=session.amr,
                        mfa_enrolled=user.totp_secret is not None,
                        refresh=await sessions.issue_refresh_token(conn, session.id),
                        password_change=bool(user.password_change_required),
                    )
        if reused:
            raise Unauthorized(
                "Refresh token already used; the session has been revoked",
                code="refresh_token_reused",
            )
        raise Unauthorized("The session has ended; sign in again", code=problem)

    async def logout(self, principal: Principal, *, actor: Actor | None = None) -> None:
        async with self.resources.database.transaction() as conn:
            await self.end_sessions(conn, [principal.session_id], "logout")
            await audit.record(
                conn,
                "logout",
                actor=actor or Actor(principal.user_id),
                target_id=principal.user_id,
                details={"session_id": principal.session_id},
            )
