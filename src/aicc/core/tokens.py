"""Access-token verification, the same in every service.

Tokens are read from the ``Authorization: Bearer`` header only. The signature is checked
against the auth service's JWKS (EdDSA/ES256, cached and refetched on an unknown ``kid`` at
a bounded rate) or, in the explicit shared-secret mode, HS256 with ``JWT_SECRET``. Then
``iss``, ``aud``, ``exp``/``nbf`` (with a small leeway), the token type and the session's
revocation state are checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import jwt

from aicc.core.errors import Unauthorized
from aicc.core.permissions import permissions_for
from aicc.core.revocation import SessionRevocations

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (RFC 9068 media type, not a secret)
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256"})
"""What a verifier can be configured to accept besides HS256 (``AICC_AUTH_ALGORITHMS``)."""
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request, as the access token says."""

    user_id: str
    session_id: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    claims: dict[str, Any] = field(repr=False)

    @property
    def username(self) -> str | None:
        """The user's name when the token carries it (``preferred_username``)."""
        name = self.claims.get("preferred_username")
        return name if isinstance(name, str) else None

    @property
    def mfa_enrollment_only(self) -> bool:
        return self.claims.get("acr") == "mfa_enroll"

    @property
    def password_change_only(self) -> bool:
        """The password was set by an administrator: only changing it is allowed."""
        return self.claims.get("acr") == "password_change"


KeyLookup = Callable[[str], Awaitable[Any]]
"""kid → a key PyJWT accepts (a ``PyJWK``), or raise Unauthorized."""


class RemoteJwks:
    """The auth service's JWKS over HTTP: cached; refetched on an unknown ``kid`` at most
    once per ``min_interval`` seconds, so garbage kids cannot hammer the auth service."""

    def __init__(self, url: str, client: httpx2.AsyncClient, *, min_interval: float = 30.0) -> None:
        self.url = url
        self.client = client
        self.min_interval = min_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    def expire(self) -> None:
        """The keys changed: the next unknown ``kid`` refetches at once."""
        self._fetched_at = -float("inf")

    async def __call__(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self.min_interval:
                await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Token signed with an unknown key", code="invalid_token")
        return key

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = await self.client.get(self.url, timeout=5.0)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx2.HTTPError, ValueError, jwt.PyJWKSetError):
            return
        self._keys = {k.key_id: k for k in keys if k.key_id}


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeyLookup | None,
        revocations: SessionRevocations | None,
        hs256_secret: bytes | None = None,
        algorithms: frozenset[str] = frozenset({"EdDSA"}),
        leeway: int = 30,
        memo_size: int = 10_000,
    ) -> None:
        if keys is None and hs256_secret is None:
            raise ValueError("a key source or an HS256 secret is required")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.revocations = revocations
        self.hs256_secret = hs256_secret
        self.algorithms = algorithms & ASYMMETRIC_ALGORITHMS
        self.leeway = leeway
        self.memo_size = memo_size
        self._verified: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is None:
            principal = await self._verify_signature_and_claims(token)
            if len(self._verified) >= self.memo_size:
                self._verified.clear()
            self._verified[token] = principal
        elif principal.claims["exp"] + self.leeway < time.time():
            self._verified.pop(token, None)
            raise Unauthorized("Token expired", code="token_expired")
        if self.revocations is not None:
            not_before = await self.revocations.not_before(principal.session_id)
            if not_before is not None and principal.claims["iat"] < not_before:
                raise Unauthorized("Session ended or changed; sign in again", code="token_revoked")
        return principal

    async def _verify_signature_and_claims(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("Malformed token", code="invalid_token") from None
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("Not an access token", code="invalid_token")
        algorithm = header.get("alg")
        key: Any
        if self.hs256_secret is not None and algorithm == "HS256":
            key = self.hs256_secret
        elif self.keys is not None and algorithm in self.algorithms:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unauthorized("Token has no key id", code="invalid_token")
            key = await self.keys(kid)
            if getattr(key, "algorithm_name", algorithm) != algorithm:
                raise Unauthorized("Token algorithm does not match its key", code="invalid_token")
        else:
            raise Unauthorized("Token algorithm not accepted", code="invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid token", code="invalid_token") from None
        roles = tuple(str(r) for r in claims.get("roles", ()))
        return Principal(
            user_id=str(claims["sub"]),
            session_id=str(claims["sid"]),
            roles=roles,
            permissions=permissions_for(roles),
            claims=claims,
        )
