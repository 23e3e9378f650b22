"""State and helpers that every part of the auth facade shares.

The facade ``AuthService`` is assembled from mixins, one per concern (login, self-service,
administration, MFA, SSO), all built on this base.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import uuid
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.auth import sessions
from aicc.auth.bruteforce import LoginGuard
from aicc.auth.keys import KeyStore, SharedSecretSigner, Signer
from aicc.auth.passwords import PasswordHasher
from aicc.core.crypto import SecretBox, derive_key
from aicc.core.errors import ConfigError, Unauthorized, ValidationFailed
from aicc.core.permissions import Role, parse_role
from aicc.core.secrets import encryption_key
from aicc.core.service import Backend, ServiceBase, hs256_secret
from aicc.core.tokens import KeyLookup


def _usable_cores() -> int:
    """Cores this process may run on: one hashing thread each. More threads than cores make
    memory-hard hashes take turns on one core and evict each other from its caches."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class AuthBase(ServiceBase):
    """Users, JWT, role-based access control, MFA, SSO, sessions and audit."""

    name = "auth"
    title = "AICC Auth"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache")

    _hasher: PasswordHasher | None = None
    _guard: LoginGuard | None = None
    _keystore: KeyStore | None = None
    _signer: Signer | None = None
    _totp_box: SecretBox | None = None
    _key_reloader: asyncio.Task[None] | None = None
    _profiles: dict[str, tuple[dict[str, Any], float]]

    @property
    def hasher(self) -> PasswordHasher:
        return self.require_started(self._hasher)

    @property
    def guard(self) -> LoginGuard:
        return self.require_started(self._guard)

    @property
    def signer(self) -> Signer:
        return self.require_started(self._signer)

    @property
    def totp_box(self) -> SecretBox:
        return self.require_started(self._totp_box)

    @property
    def jwks(self) -> dict[str, Any]:
        return self.signer.jwks

    def token_keys(self) -> KeyLookup | None:
        if hs256_secret(self.settings) is not None:
            return None

        async def local_key(kid: str) -> Any:
            if self._keystore is None:
                raise Unauthorized("Signing keys are not loaded", code="invalid_token")
            return await self._keystore.public_key(kid)

        return local_key

    _reload_now: asyncio.Event

    def forget_profile(self, user_id: str) -> None:
        """Drop the cached /auth/me answer of a user whose profile changed here."""
        self._profiles.pop(user_id, None)

    async def on_start(self) -> None:
        self._profiles = {}
        self._reload_now = asyncio.Event()
        auth = self.settings.auth
        master = encryption_key(self.settings)
        self._totp_box = SecretBox(derive_key(master, "aicc-auth-totp-secrets"))
        self._hasher = PasswordHasher(
            memory_kib=auth.password_hash_memory_kib,
            time_cost=auth.password_hash_time_cost,
            max_threads=auth.password_hash_threads or _usable_cores(),
        )
        self._guard = LoginGuard(self.resources.cache, auth)
        secret = hs256_secret(self.settings)
        if secret is not None:
            self._signer = SharedSecretSigner(secret)
        else:
            self._keystore = KeyStore(
                self.resources.database,
                SecretBox(derive_key(master, "aicc-auth-signing-keys")),
                token_ttl=auth.access_token_ttl,
                leeway=auth.leeway,
            )
            await self._keystore.load()
            self._signer = self._keystore
            self._key_reloader = asyncio.create_task(self._reload_keys(), name="aicc-auth-keys")
            self.revocations.key_listeners.append(self._keys_changed_elsewhere)
        await self.on_auth_started()

    async def rotate_signing_key(self) -> str:
        """Make a new signing key (``aicc auth rotate-keys``); returns its ``kid``."""
        if self._keystore is None:
            raise ConfigError("JWT_SECRET is set: HS256 mode has no signing keys to rotate")
        kid = await self._keystore.rotate()
        await self.revocations.announce_keys_changed()
        return kid

    async def on_auth_started(self) -> None:
        """Hook for the assembled facade (bootstrap of the first admin)."""

    async def on_stop(self) -> None:
        if self._key_reloader is not None:
            self._key_reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_reloader
            self._key_reloader = None
        if self._hasher is not None:
            self._hasher.close()

    def _keys_changed_elsewhere(self) -> None:
        self._reload_now.set()

    async def _reload_keys(self) -> None:
        """Re-read the keys every RELOAD_INTERVAL, or at once when a rotation is announced."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload_now.wait(), KeyStore.RELOAD_INTERVAL)
            self._reload_now.clear()
            if self._keystore is not None:
                try:
                    await self._keystore.load(create=False)
                except Exception:
                    self.logger.warning("signing key reload failed", exc_info=True)

    def access_token(
        self,
        *,
        user_id: str,
        username: str,
        session_id: str,
        roles: list[str],
        amr: str,
        acr: str | None = None,
    ) -> tuple[str, int]:
        auth = self.settings.auth
        issued = math.ceil(time.time() * 1000) / 1000
        now = int(issued)
        claims: dict[str, Any] = {
            "iss": self.settings.token_issuer,
            "aud": auth.audience,
            "sub": user_id,
            "preferred_username": username,
            "iat": issued,
            "nbf": now,
            "exp": now + auth.access_token_ttl,
            "jti": uuid.uuid4().hex,
            "sid": session_id,
            "roles": roles,
            "amr": amr.split(","),
        }
        if acr is not None:
            claims["acr"] = acr
        return self.signer.sign(claims), auth.access_token_ttl

    def mfa_required_for(self, roles: list[str]) -> bool:
        required = {r.upper() for r in self.settings.auth.mfa_required_roles}
        return bool(required.intersection(roles))

    async def start_session(
        self,
        conn: AsyncConnection,
        *,
        user_id: str,
        username: str,
        roles: list[str],
        amr: str,
        mfa_enrolled: bool,
        ip_address: str | None,
        user_agent: str | None,
        password_change: bool = False,
    ) -> dict[str, Any]:
        session_id = await sessions.create(
            conn,
            user_id=user_id,
            ip_address=ip_address,
            user_agent=user_agent,
            amr=amr,
            lifetime=self.settings.auth.session_max_lifetime,
        )
        refresh = await sessions.issue_refresh_token(conn, session_id)
        return self.token_pair(
            user_id=user_id,
            username=username,
            session_id=session_id,
            roles=roles,
            amr=amr,
            mfa_enrolled=mfa_enrolled,
            refresh=refresh,
            password_change=password_change,
        )

    def token_pair(
        self,
        *,
        user_id: str,
        username: str,
        session_id: str,
        roles: list[str],
        amr: str,
        mfa_enrolled: bool,
        refresh: str,
        password_change: bool = False,
    ) -> dict[str, Any]:
        """The spec's token response. A user whose password an administrator set gets a token
        that only allows changing it (``acr`` ``password_change``, no roles); a user whose
        role requires MFA but who has not enrolled, one that only allows enrolment
        (``acr`` ``mfa_enroll``, no roles). Refreshing after the change gives full access."""
        enroll_only = self.mfa_required_for(roles) and not mfa_enrolled
        acr = "password_change" if password_change else "mfa_enroll" if enroll_only else None
        token, expires_in = self.access_token(
            user_id=user_id,
            username=username,
            session_id=session_id,
            roles=[] if acr else roles,
            amr=amr,
            acr=acr,
        )
        return {
            "access_token": token,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }

    async def end_sessions(
        self, conn: AsyncConnection, session_ids: list[str], reason: str
    ) -> list[str]:
        """Revoke sessions in the database and at every service (through the cache)."""
        revoked = await sessions.revoke(conn, session_ids, reason)
        for sid in revoked:
            await self.revocations.revoke(sid)
        return revoked

    async def end_user_sessions(
        self, conn: AsyncConnection, user_id: str, reason: str, *, except_id: str | None = None
    ) -> list[str]:
        ids = await sessions.active_ids_of_user(conn, user_id, except_id=except_id)
        return await self.end_sessions(conn, ids, reason)

    async def refresh_claims_of_user(self, conn: AsyncConnection, user_id: str) -> None:
        """Roles changed: the user's current access tokens stop working now; refreshing
        gives tokens with the new roles (sessions stay)."""
        now = time.time()
        for sid in await sessions.active_ids_of_user(conn, user_id):
            await self.revocations.revoke(sid, not_before=now)

    @staticmethod
    def parse_roles(values: list[str] | None, default: Role = Role.VIEWER) -> list[Role]:
        try:
            return [parse_role(v) for v in values] if values else [default]
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_role") from None
