"""What a signed-in user does for themself: profile, password, sessions."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aicc.auth import audit, sessions, users
from aicc.auth.audit import Actor
from aicc.auth.base import AuthBase
from aicc.auth.passwords import check_password_policy
from aicc.core.errors import Forbidden, NotFound, Unauthorized
from aicc.core.permissions import Role, highest_rank
from aicc.core.tokens import Principal

PROFILE_MEMO_SECONDS = 5.0
"""How long a replica answers /auth/me from memory; its own changes apply at once."""


class SelfServiceMixin(AuthBase):
    async def me(self, principal: Principal) -> dict[str, Any]:
        memo = self._profiles
        now = time.monotonic()
        cached = memo.get(principal.user_id)
        if cached is not None and now - cached[1] < PROFILE_MEMO_SECONDS:
            profile = cached[0]
        else:
            async with self.resources.database.connect() as conn:
                found = await users.profile(conn, principal.user_id)
            if found is None:
                raise Unauthorized("The user no longer exists", code="token_revoked")
            profile = found
            if len(memo) > 50_000:
                memo.clear()
            memo[principal.user_id] = (profile, now)
        return {
            **profile,
            "roles": list(principal.roles),
            "permissions": sorted(principal.permissions),
            "session_id": principal.session_id,
            "mfa_enrollment_required": principal.mfa_enrollment_only,
            "password_change_required": principal.password_change_only,
        }

    async def update_me(
        self, principal: Principal, changes: dict[str, Any], *, actor: Actor
    ) -> dict[str, Any]:
        async with self.resources.database.transaction() as conn:
            if changes:
                await users.update_fields(conn, principal.user_id, **changes)
            await audit.record(
                conn,
                "profile_updated",
                actor=actor,
                target_id=principal.user_id,
                details={"fields": sorted(changes)},
            )
        self.forget_profile(principal.user_id)
        return await self.me(principal)

    async def change_password(
        self, principal: Principal, current: str, new: str, *, actor: Actor
    ) -> dict[str, Any]:
        """Replace the password, end every session of the user (this one included) and
        return a token pair for a fresh session."""
        async with self.resources.database.connect() as conn:
            user = await users.by_id(conn, principal.user_id)
            roles = await users.roles_of(conn, principal.user_id)
        if user is None or not user.password_hash:
            raise Forbidden("This account has no password to change", code="no_password")
        checked = await self.hasher.verify(user.password_hash, current)
        key = users.username_key(user.username)
        if not checked.valid:
            await self.guard.record_failure(key, actor.ip_address)
            async with self.resources.database.transaction() as conn:
                await audit.record(
                    conn, "password_changed", outcome="failure", actor=actor, target_id=user.id
                )
            raise Unauthorized("The current password is wrong", code="invalid_credentials")
        check_password_policy(new, username=user.username, email=user.email)
        new_hash = await self.hasher.hash(new)
        async with self.resources.database.transaction() as conn:
            await users.update_fields(
                conn,
                user.id,
                password_hash=new_hash,
                password_changed_at=datetime.now(UTC),
                password_change_required=False,
            )
            await self.end_user_sessions(conn, user.id, "password_changed")
            tokens = await self.start_session(
                conn,
                user_id=user.id,
                username=user.username,
                roles=roles,
                amr="pwd,otp" if user.totp_secret is not None else "pwd",
                mfa_enrolled=user.totp_secret is not None,
                ip_address=actor.ip_address,
                user_agent=actor.user_agent,
            )
            await audit.record(conn, "password_changed", actor=actor, target_id=user.id)
        return tokens

    async def list_sessions(self, user_id: str) -> list[dict[str, Any]]:
        idle = self.settings.auth.session_idle_timeout
        async with self.resources.database.connect() as conn:
            return await sessions.list_for_user(conn, user_id, idle_timeout=idle)

    async def end_session(self, principal: Principal, session_id: str, *, actor: Actor) -> None:
        """End one session: one's own, or anyone's with ``users:manage``."""
        async with self.resources.database.transaction() as conn:
            found = await sessions.by_id(conn, session_id)
            mine = found is not None and found.user_id == principal.user_id
            if found is None or not (mine or "users:manage" in principal.permissions):
                raise NotFound("No such session", code="session_not_found")
            if not mine and Role.SUPER_ADMIN.value not in principal.roles:
                target_rank = highest_rank(await users.roles_of(conn, found.user_id))
                if target_rank >= highest_rank(principal.roles):
                    raise Forbidden("You cannot administer this user", code="role_not_allowed")
            await self.end_sessions(conn, [session_id], "user_revoked")
            await audit.record(
                conn,
                "session_revoked",
                actor=actor,
                target_id=found.user_id,
                details={"session_id": session_id},
            )

    async def end_other_sessions(self, principal: Principal, *, actor: Actor) -> int:
        async with self.resources.database.transaction() as conn:
            ended = await self.end_user_sessions(
                conn, principal.user_id, "user_revoked_others", except_id=principal.session_id
            )
            await audit.record(
                conn,
                "sessions_revoked",
                actor=actor,
                target_id=principal.user_id,
                details={"count": len(ended), "kept": principal.session_id},
            )
        return len(ended)
