"""Registering users and administering them: roles, disable/enable, unlock, password reset,
deletion. The caller may grant only roles below its own (only SUPER_ADMIN grants ADMIN or
SUPER_ADMIN), and the last active SUPER_ADMIN can be neither demoted, disabled nor deleted."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import audit, users
from aicc.auth.audit import Actor
from aicc.auth.base import AuthBase
from aicc.auth.passwords import check_password_policy
from aicc.core.errors import Conflict, Forbidden, NotFound
from aicc.core.permissions import ROLE_RANK, Role, highest_rank
from aicc.core.tokens import Principal


class AccountsMixin(AuthBase):
    async def register_user(
        self,
        username: str,
        email: str,
        password: str,
        roles: list[str] | None = None,
        *,
        first_name: str = "",
        last_name: str = "",
        caller: Principal | None = None,
        actor: Actor | None = None,
        temporary: bool = False,
    ) -> str:
        """Create a user and return its id.

        ``caller`` is the authenticated admin (HTTP); the Python API may omit it and act
        with full authority. Role names are case-insensitive. A ``temporary`` password must
        be changed at the first sign-in (as after an administrator's reset).
        """
        wanted = self.parse_roles(roles)
        if caller is not None:
            self._check_grantable(caller, wanted)
        check_password_policy(password, username=username, email=email)
        password_hash = await self.hasher.hash(password)
        async with self.resources.database.transaction() as conn:
            return await self.insert_user(
                conn,
                username=username,
                email=email,
                password_hash=password_hash,
                roles=wanted,
                first_name=first_name,
                last_name=last_name,
                actor=actor or Actor(caller.user_id if caller else None),
                temporary=temporary,
            )

    @staticmethod
    async def insert_user(
        conn: AsyncConnection,
        *,
        username: str,
        email: str,
        password_hash: str,
        roles: list[Role],
        actor: Actor,
        first_name: str = "",
        last_name: str = "",
        temporary: bool = False,
    ) -> str:
        """Insert a checked user with its audit row in the caller's transaction."""
        if await users.exists(conn, username=username, email=email):
            raise Conflict("A user with that username or email exists", code="user_exists")
        user_id = await users.create(
            conn,
            username=username,
            email=email,
            password_hash=password_hash,
            roles=roles,
            first_name=first_name,
            last_name=last_name,
            password_change_required=temporary,
        )
        await audit.record(
            conn,
            "user_created",
            actor=actor,
            target_id=user_id,
            details={"roles": [r.value for r in roles], "temporary_password": temporary},
        )
        return user_id

    @staticmethod
    def _check_grantable(caller: Principal, roles: list[Role]) -> None:
        own = highest_rank(caller.roles)
        for role in roles:
            rank = ROLE_RANK[role]
            if Role.SUPER_ADMIN.value in caller.roles:
                continue
            if rank >= own or rank >= ROLE_RANK[Role.ADMIN]:
                raise Forbidden(f"You cannot grant the role {role.value}", code="role_not_allowed")

    async def _target(self, conn: AsyncConnection, caller: Principal | None, user_id: str) -> Any:
        """The user to administer; an admin may not act on someone of equal or higher rank."""
        user = await users.by_id(conn, user_id)
        if user is None:
            raise NotFound("No such user", code="user_not_found")
        if caller is not None and caller.user_id != user_id:
            caller_rank = highest_rank(caller.roles)
            target_rank = highest_rank(await users.roles_of(conn, user_id))
            if Role.SUPER_ADMIN.value not in caller.roles and target_rank >= caller_rank:
                raise Forbidden("You cannot administer this user", code="role_not_allowed")
        return user

    async def _guard_last_super_admin(self, conn: AsyncConnection, user_id: str) -> None:
        if Role.SUPER_ADMIN.value not in await users.roles_of(conn, user_id):
            return
        if await users.count_active_with_role(conn, Role.SUPER_ADMIN) <= 1:
            raise Conflict("This is the last active SUPER_ADMIN", code="last_super_admin")

    async def get_user(self, user_id: str) -> dict[str, Any]:
        async with self.resources.database.connect() as conn:
            found = await users.profile(conn, user_id)
        if found is None:
            raise NotFound("No such user", code="user_not_found")
        return found

    async def is_locked(self, username: str) -> bool:
        """Whether failed sign-ins locked the account (until it expires or an unlock)."""
        return await self.guard.is_locked(users.username_key(username))

    async def list_users(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        async with self.resources.database.connect() as conn:
            return await users.search(conn, **filters)

    async def update_user(
        self, user_id: str, changes: dict[str, Any], *, caller: Principal | None, actor: Actor
    ) -> dict[str, Any]:
        async with self.resources.database.transaction() as conn:
            await self._target(conn, caller, user_id)
            if "email" in changes and await users.email_exists(
                conn, changes["email"], except_id=user_id
            ):
                raise Conflict("That email is in use", code="user_exists")
            if changes:
                await users.update_fields(conn, user_id, **changes)
            await audit.record(
                conn,
                "user_updated",
                actor=actor,
                target_id=user_id,
                details={"fields": sorted(changes)},
            )
        self.forget_profile(user_id)
        return await self.get_user(user_id)

    async def set_user_roles(
        self, user_id: str, roles: list[str], *, caller: Principal | None, actor: Actor
    ) -> dict[str, Any]:
        wanted = self.parse_roles(roles)
        if caller is not None:
            self._check_grantable(caller, wanted)
        async with self.resources.database.transaction() as conn:
            await self._target(conn, caller, user_id)
            if Role.SUPER_ADMIN not in wanted:
                await self._guard_last_super_admin(conn, user_id)
            before = await users.roles_of(conn, user_id)
            await users.set_roles(conn, user_id, wanted)
            await self.refresh_claims_of_user(conn, user_id)
            await audit.record(
                conn,
                "roles_changed",
                actor=actor,
                target_id=user_id,
                details={"before": before, "after": [r.value for r in wanted]},
            )
        self.forget_profile(user_id)
        return await self.get_user(user_id)

    async def set_user_active(
        self, user_id: str, active: bool, *, caller: Principal | None, actor: Actor
    ) -> dict[str, Any]:
        async with self.resources.database.transaction() as conn:
            await self._target(conn, caller, user_id)
            if not active:
                await self._guard_last_super_admin(conn, user_id)
                await self.end_user_sessions(conn, user_id, "user_disabled")
            await users.update_fields(conn, user_id, is_active=active)
            event = "user_enabled" if active else "user_disabled"
            await audit.record(conn, event, actor=actor, target_id=user_id)
        self.forget_profile(user_id)
        return await self.get_user(user_id)

    async def delete_user(self, user_id: str, *, caller: Principal | None, actor: Actor) -> None:
        async with self.resources.database.transaction() as conn:
            await self._target(conn, caller, user_id)
            await self._guard_last_super_admin(conn, user_id)
            await self.end_user_sessions(conn, user_id, "user_deleted")
            await users.delete_user(conn, user_id)
            await audit.record(conn, "user_deleted", actor=actor, target_id=user_id)

    async def unlock_user(self, user_id: str, *, caller: Principal | None, actor: Actor) -> None:
        async with self.resources.database.transaction() as conn:
            user = await self._target(conn, caller, user_id)
            await self.guard.unlock(users.username_key(user.username))
            await audit.record(conn, "account_unlocked", actor=actor, target_id=user_id)

    async def reset_password(
        self,
        user_id: str,
        new_password: str | None,
        *,
        caller: Principal | None,
        actor: Actor,
        temporary: bool = True,
    ) -> str | None:
        """Set a new password (or generate one, returned once) and end every session. A
        ``temporary`` password must be changed at the next sign-in: until then the user's
        tokens allow only ``POST /auth/password`` (and ``/auth/me``, logout)."""
        generated = new_password is None
        password = new_password or secrets.token_urlsafe(15)
        async with self.resources.database.connect() as conn:
            user = await self._target(conn, caller, user_id)
        check_password_policy(password, username=user.username, email=user.email)
        password_hash = await self.hasher.hash(password)
        async with self.resources.database.transaction() as conn:
            await users.update_fields(
                conn,
                user_id,
                password_hash=password_hash,
                password_changed_at=datetime.now(UTC),
                password_change_required=temporary,
            )
            await self.end_user_sessions(conn, user_id, "password_reset")
            await audit.record(
                conn,
                "password_reset",
                actor=actor,
                target_id=user_id,
                details={"generated": generated, "temporary": temporary},
            )
        await self.guard.unlock(users.username_key(user.username))
        return password if generated else None

    async def end_sessions_of_user(
        self, user_id: str, *, caller: Principal | None, actor: Actor
    ) -> int:
        async with self.resources.database.transaction() as conn:
            await self._target(conn, caller, user_id)
            ended = await self.end_user_sessions(conn, user_id, "admin_revoked")
            await audit.record(
                conn,
                "sessions_revoked",
                actor=actor,
                target_id=user_id,
                details={"count": len(ended)},
            )
        return len(ended)
