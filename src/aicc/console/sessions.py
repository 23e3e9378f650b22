"""Console sessions, kept on the server in the shared cache (memory or Redis), sealed.

The browser holds only a random session id (256 bits) in an httpOnly, SameSite=Strict
cookie. The cache key is the id's SHA-256, so a cache dump names no usable cookie; the value
(the user's access and refresh tokens, the CSRF token, a sign-in in progress) is sealed with
AES-256-GCM under a key derived from the master key, bound to that cache key. Every replica
sharing the cache and the master key reads every session.

Writes happen under a per-session lock on the re-read value (:meth:`SessionStore.update`),
so two requests of one session never write back each other's stale tokens (a refresh token
used twice ends the session at the auth service).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from aicc.core.cache import Cache
from aicc.core.crypto import SecretBox, derive_key

KEY_PURPOSE = "aicc console sessions v1"
TOUCH_EVERY = 60.0
"""Seconds between idle-timer resets of a session that is only read."""
PENDING_LOGIN_TTL = 300.0
"""Seconds a password waits (sealed) for its MFA code."""


@dataclass
class SignedInUser:
    """Who the session's access token says is signed in (verified when received)."""

    user_id: str
    username: str
    auth_session_id: str
    roles: list[str]
    permissions: list[str]
    acr: str | None = None
    display_name: str = ""
    email: str = ""

    @property
    def restriction(self) -> str | None:
        """``password_change`` or ``mfa_enroll`` while the token allows only that."""
        return self.acr if self.acr in ("password_change", "mfa_enroll") else None

    def can(self, permission: str) -> bool:
        return self.restriction is None and permission in self.permissions


@dataclass
class PendingLogin:
    username: str
    password: str
    started_at: float


@dataclass
class SessionData:
    csrf: str
    created_at: float
    touched_at: float
    user: SignedInUser | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: float = 0.0
    pending_login: PendingLogin | None = None
    totp_uri: str | None = None
    totp_secret: str | None = None
    notice: str | None = None
    """A message key shown once on the next page (after a redirect)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Room for pages to keep small per-session state (a multi-step form)."""

    @classmethod
    def anonymous(cls) -> SessionData:
        now = time.time()
        return cls(csrf=new_token(), created_at=now, touched_at=now)

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> SessionData:
        data = orjson.loads(raw)
        user = data.pop("user")
        pending = data.pop("pending_login")
        return cls(
            **data,
            user=SignedInUser(**user) if user else None,
            pending_login=PendingLogin(**pending) if pending else None,
        )

    def sign_out(self) -> None:
        """Forget the user and everything bound to them; the CSRF token is renewed."""
        self.user = None
        self.access_token = self.refresh_token = None
        self.access_expires_at = 0.0
        self.pending_login = None
        self.totp_uri = self.totp_secret = None
        self.extra = {}
        self.csrf = new_token()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    def __init__(
        self,
        cache: Cache,
        master_keys: Sequence[bytes],
        *,
        idle_timeout: float,
        max_lifetime: float,
    ) -> None:
        if not master_keys:
            raise ValueError("at least one master key is needed")
        self.cache = cache
        self._boxes = [SecretBox(derive_key(key, KEY_PURPOSE)) for key in master_keys]
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime

    @staticmethod
    def _key(session_id: str) -> str:
        return "console:session:" + hashlib.sha256(session_id.encode()).hexdigest()

    async def create(self, data: SessionData) -> str:
        session_id = new_token()
        await self._write(session_id, data)
        return session_id

    async def load(self, session_id: str) -> SessionData | None:
        if not session_id or len(session_id) > 128:
            return None
        key = self._key(session_id)
        raw = await self.cache.get(key)
        if raw is None:
            return None
        data = self._open(raw, key)
        if data is None or time.time() - data.created_at > self.max_lifetime:
            return None
        return data

    async def update(
        self, session_id: str, change: Callable[[SessionData], Awaitable[None] | None]
    ) -> SessionData | None:
        """Re-read the session under its lock, apply ``change``, write it back; None when the
        session is gone. ``change`` may be a coroutine function (a token refresh)."""
        async with self.cache.lock(self._key(session_id) + ":lock", ttl=30.0):
            data = await self.load(session_id)
            if data is None:
                return None
            outcome = change(data)
            if outcome is not None:
                await outcome
            data.touched_at = time.time()
            await self._write(session_id, data)
            return data

    async def touch(self, session_id: str, data: SessionData) -> None:
        """Reset the idle timer of a session only read, at most every ``TOUCH_EVERY``."""
        if time.time() - data.touched_at >= TOUCH_EVERY:
            await self.update(session_id, lambda _: None)

    async def delete(self, session_id: str) -> None:
        await self.cache.delete(self._key(session_id))

    async def rotate(self, session_id: str | None, data: SessionData) -> str:
        """The same data under a new id (at sign-in: an id known before it is worthless)."""
        if session_id:
            await self.delete(session_id)
        data.touched_at = time.time()
        return await self.create(data)

    async def _write(self, session_id: str, data: SessionData) -> None:
        key = self._key(session_id)
        remaining = self.max_lifetime - (time.time() - data.created_at)
        ttl = max(1.0, min(self.idle_timeout, remaining))
        sealed = self._boxes[0].seal(data.to_bytes(), context=key.encode())
        await self.cache.set(key, sealed, ttl=ttl)

    def _open(self, raw: bytes, key: str) -> SessionData | None:
        for box in self._boxes:
            try:
                plain = box.open(raw, context=key.encode())
            except (InvalidTag, ValueError):
                continue
            try:
                return SessionData.from_bytes(plain)
            except (TypeError, ValueError, KeyError):
                return None
        return None
